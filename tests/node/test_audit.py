import json
from datetime import datetime, timezone

import duckdb
import pytest

from oncofed.analysis.base import Partial
from oncofed.node import audit
from oncofed.node.audit import Entry
from oncofed.store.migrations import migrate
from oncofed.store.store import Store

FIELDS = ["logged_at", "requester", "kind", "datasets", "request_digest", "outcome", "reason", "released",
          "prev_hash", "hash"]
EDITS = {
    "logged_at": "logged_at + INTERVAL 1 SECOND",
    "requester": "'mallory'",
    "kind": "'ping'",
    "datasets": """'{"ds": 99}'""",
    "request_digest": "'sha256:forged'",
    "outcome": "'error'",
    "reason": "'edited'",
    "released": """'{"cells": 0}'""",
    "prev_hash": "repeat('a', 64)",
    "hash": "repeat('b', 64)",
}


@pytest.fixture
def con():
    con = duckdb.connect()
    migrate(con)
    for i in range(1, 6):
        audit.append(con, Entry(requester=f"hub:user{i}", kind="count@1", outcome="released",
                                request_digest=audit.digest({"n": i}), datasets={"ds": 1},
                                released={"cells": 4, "suppressed": 1, "stats": []}))
    yield con
    con.close()


def seqs(problems):
    return sorted({p.seq for p in problems})


def test_an_untouched_log_verifies(con):
    assert audit.verify(con) == []
    assert [e.seq for e in audit.entries(con)] == [1, 2, 3, 4, 5]


def test_entries_chain_from_genesis(con):
    logged = audit.entries(con)
    assert logged[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(logged, logged[1:]))
    assert logged[2].requester == "hub:user3" and logged[2].datasets == {"ds": 1}
    assert logged[2].released == {"cells": 4, "suppressed": 1, "stats": []}


def test_append_returns_the_next_seq_and_keeps_the_time(con):
    at = datetime(2025, 3, 1, 12, 30, 0, 123456, tzinfo=timezone.utc)
    seq = audit.append(con, {"requester": None, "kind": "cox@1", "outcome": "refused", "reason": "too few",
                             "request_digest": "sha256:x"}, now=at)
    assert seq == 6
    last = audit.entries(con, last=1)[0]
    assert last.at == at and last.requester is None and last.outcome == "refused"
    assert audit.verify(con) == []


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("seq", [1, 3, 5])
def test_editing_any_field_of_any_entry_is_caught_and_named(con, field, seq):
    con.execute(f"UPDATE audit_log SET {field} = {EDITS[field]} WHERE seq = ?", [seq])
    problems = audit.verify(con)
    assert seqs(problems) == [seq], problems
    assert f"entry {seq}" in str(problems[0])


@pytest.mark.parametrize("seq", [1, 3])
def test_deleting_an_entry_is_caught_and_named(con, seq):
    con.execute("DELETE FROM audit_log WHERE seq = ?", [seq])
    problems = audit.verify(con)
    assert [(p.seq, str(p)) for p in problems] == [(seq, f"entry {seq} is missing")]


def test_deleting_several_entries_names_the_span(con):
    con.execute("DELETE FROM audit_log WHERE seq IN (2, 3, 4)")
    assert [str(p) for p in audit.verify(con)] == ["entries 2–4 are missing"]


def test_deleting_the_newest_entries_is_caught_against_an_anchor(con):
    anchor = audit.head(con)
    assert anchor[0] == 5
    con.execute("DELETE FROM audit_log WHERE seq = 5")
    assert audit.verify(con) == []  # a shorter chain is still a chain
    problems = audit.verify(con, anchor=anchor)
    assert seqs(problems) == [5] and "anchored" in str(problems[0])


def test_replacing_an_entry_with_a_valid_forgery_breaks_the_next_link():
    # The forger can hash a new entry 3 correctly; entry 4 still names the old one.
    at = datetime(2025, 1, 1, tzinfo=timezone.utc)
    logs = []
    for who in ("alice", "mallory"):
        con = duckdb.connect()
        migrate(con)
        for requester in ("a", "b", who, "d"):
            audit.append(con, Entry(requester=requester, kind="k", outcome="released", request_digest="d"), now=at)
        logs.append(con)
    real, forged = logs
    row = forged.execute("SELECT * FROM audit_log WHERE seq = 3").fetchall()[0]
    real.execute("DELETE FROM audit_log WHERE seq = 3")
    real.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(row))
    problems = audit.verify(real)
    assert [p.seq for p in problems] == [4]
    assert "entry 3 was replaced" in str(problems[0])


def test_swapping_two_entries_is_caught_and_both_named(con):
    con.execute("UPDATE audit_log SET seq = -1 WHERE seq = 2")
    con.execute("UPDATE audit_log SET seq = 2 WHERE seq = 4")
    con.execute("UPDATE audit_log SET seq = 4 WHERE seq = -1")
    assert seqs(audit.verify(con)) == [2, 4]


def test_swapping_adjacent_entries_is_caught(con):
    con.execute("UPDATE audit_log SET seq = -1 WHERE seq = 2")
    con.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3")
    con.execute("UPDATE audit_log SET seq = 3 WHERE seq = -1")
    assert seqs(audit.verify(con)) == [2, 3]


def test_an_append_rolled_back_with_its_answer_leaves_the_chain_whole(con):
    entry = {"requester": "hub:u", "kind": "count@1", "outcome": "released", "request_digest": "sha256:x"}
    con.execute("BEGIN")
    assert audit.append(con, entry) == 6
    con.execute("ROLLBACK")
    assert audit.append(con, entry) == 6
    assert audit.append(con, entry) == 7
    assert audit.verify(con) == [] and audit.head(con)[0] == 7


def test_appends_from_two_connections_to_one_store_keep_one_chain(tmp_path):
    path = tmp_path / "store.duckdb"
    Store.open(path).close()
    first = duckdb.connect(str(path))
    second = first.cursor()
    entry = {"requester": "hub:u", "kind": "count@1", "outcome": "released", "request_digest": "sha256:x"}
    assert [audit.append(c, entry) for c in (first, second, first, second, first)] == [1, 2, 3, 4, 5]
    assert audit.verify(first) == []
    first.close()


def test_entries_filter_by_requester_and_page(con):
    assert [e.seq for e in audit.entries(con, requester="hub:user2")] == [2]
    assert [e.seq for e in audit.entries(con, after=2)] == [3, 4, 5]
    assert [e.seq for e in audit.entries(con, last=2)] == [4, 5]
    assert [e.seq for e in audit.entries(con, after=4, last=3)] == [5]


def test_entries_and_problems_have_a_json_form(con):
    entry = audit.entries(con, last=1)[0].to_json()
    assert json.loads(json.dumps(entry)) == entry
    assert entry["seq"] == 5 and entry["at"].endswith("+00:00") and entry["datasets"] == {"ds": 1}
    con.execute("DELETE FROM audit_log WHERE seq = 2")
    assert [p.to_json() for p in audit.verify(con)] == [{"seq": 2, "message": "entry 2 is missing"}]


def test_a_refused_or_failed_entry_needs_a_reason(con):
    with pytest.raises(ValueError, match="needs a reason"):
        audit.append(con, {"requester": "r", "kind": "k", "outcome": "refused", "request_digest": "d"})
    with pytest.raises(ValueError, match="outcome must be one of"):
        audit.append(con, {"requester": "r", "kind": "k", "outcome": "leaked", "request_digest": "d"})


def test_the_summary_of_a_partial_holds_no_values():
    partial = Partial(records=123, cells={"a": 77, "b": 46}, stats={"sum_age": 5012.5}, suppressed=["c"])
    summary = audit.summary(partial)
    assert summary == {"cells": 2, "suppressed": 1, "stats": ["sum_age"]}


def test_the_request_digest_ignores_key_order():
    assert audit.digest({"a": 1, "b": [1, 2]}) == audit.digest({"b": [1, 2], "a": 1})
    assert audit.digest({"a": 1}) != audit.digest({"a": 2})


def test_the_log_survives_a_restart(tmp_path):
    with Store.open(tmp_path / "s.duckdb") as store:
        audit.append(store.con, Entry(requester="r", kind="ping", outcome="released", request_digest="d"))
    with Store.open(tmp_path / "s.duckdb") as store:
        audit.append(store.con, Entry(requester="r", kind="ping", outcome="released", request_digest="d"))
        assert audit.verify(store.con) == [] and audit.head(store.con)[0] == 2
