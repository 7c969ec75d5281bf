"""The node's audit log: every request, released or refused, and what left the node.

Append-only and hash-chained: entry ``seq`` stores ``hash`` = SHA-256 of the canonical JSON
(``envelope.canonical``) of all its other fields, ``prev_hash`` included, and ``prev_hash`` is
the hash of entry ``seq - 1`` (64 zeros for the first). Changing, removing or moving any entry
therefore breaks the chain at that entry, and ``verify`` names it. Removing the newest entries
leaves a shorter valid chain; to catch that, keep ``head`` somewhere else (a hub, a signed
answer) and pass it back to ``verify``.

A serving node hands the hub its head with every analysis answer (signed, in the envelope), and
the hub keeps the newest: ``verify(anchor=…)`` with the hub's copy catches a log cut short,
and the hub itself notices a head that goes back.

The log says *what* was released in summary (how many cells, how many suppressed), never the
values: it must not become a copy of the answers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import duckdb

from oncofed.analysis.base import Partial
from oncofed.auth.envelope import canonical
from oncofed.errors import OncofedError

OUTCOMES = ("released", "refused", "error")
GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_COLUMNS = ("seq, epoch_us(logged_at), requester, kind, datasets, request_digest, outcome, reason, released, "
            "prev_hash, hash")
_append_lock = threading.Lock()  # seq is read, then written: one appender at a time
# id(connection) → (seq, hash) of the entry last appended there: the newest entry is looked for
# from that seq on, so an append reads one block of the log, not all of it. A stale value (a
# rolled-back append, a reused id) finds nothing or an older entry, and the search widens to
# the whole log.
_appended: dict[int, tuple[int, str]] = {}


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One request as the node saw it. ``kind`` names it ("cox@1", "beacon", "ping");
    ``datasets`` maps each dataset used to its version; ``released`` summarises the answer."""

    requester: str | None
    kind: str
    outcome: str
    request_digest: str
    datasets: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    released: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Logged(Entry):
    seq: int
    at: datetime
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


@dataclass(frozen=True)
class Problem:
    seq: int
    message: str

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def digest(request: Mapping[str, Any]) -> str:
    """Names a request in the log without keeping it (leave out credentials first)."""
    return "sha256:" + hashlib.sha256(canonical(request)).hexdigest()


def summary(partial: Partial) -> dict[str, Any]:
    """What a released partial holds, for ``Entry.released``: sizes and names, no values."""
    return {"cells": len(partial.cells), "suppressed": len(partial.suppressed), "stats": sorted(partial.stats)}


def append(con: duckdb.DuckDBPyConnection, entry: Entry | Mapping[str, Any], *, now: datetime | None = None) -> int:
    """Add an entry at the end of the chain; returns its seq. Runs in the caller's
    transaction if there is one (so an answer and its entry commit together)."""
    entry = _checked(entry)
    at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    with _append_lock:
        last = _newest(con, _appended.get(id(con), (0, ""))[0])
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
        content = _content(seq, at, entry, prev_hash)
        hash_ = _hash(content)
        con.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [seq, at, entry.requester, entry.kind, json.dumps(content["datasets"]), entry.request_digest,
             entry.outcome, entry.reason, json.dumps(content["released"]), prev_hash, hash_],
        )
        _appended[id(con)] = (seq, hash_)
    return seq


def appended(con: duckdb.DuckDBPyConnection) -> tuple[int, str] | None:
    """(seq, hash) of the entry this connection appended last: the head to hand out as an
    anchor, once that append's transaction has committed."""
    return _appended.get(id(con))


def _newest(con: duckdb.DuckDBPyConnection, since: int = 0) -> tuple[int, str] | None:
    # Filters on seq rather than ORDER BY … LIMIT 1, which sorts the whole log.
    if since:
        rows = con.execute("SELECT seq, hash FROM audit_log WHERE seq >= ?", [since]).fetchall()
        if rows:
            return max(rows)
    rows = con.execute("SELECT seq, hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)").fetchall()
    return rows[0] if rows else None


def entries(con: duckdb.DuckDBPyConnection, *, requester: str | None = None, after: int = 0,
            last: int | None = None) -> list[Logged]:
    """Entries in order from seq ``after + 1`` on, optionally only one requester's, or only
    the newest ``last`` of them."""
    sql = f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ?"
    params: list[Any] = [after]
    if requester is not None:
        sql += " AND requester = ?"
        params.append(requester)
    if last is not None:
        sql += " ORDER BY seq DESC LIMIT ?"
        params.append(last)
    rows = con.execute(sql, params).fetchall()
    return sorted((_logged(row) for row in rows), key=lambda e: e.seq)


def head(con: duckdb.DuckDBPyConnection) -> tuple[int, str] | None:
    """The newest entry's (seq, hash): an anchor to keep outside the node's store."""
    return _newest(con)


def parse_anchor(text: str) -> tuple[int, str]:
    """An anchor as written ``SEQ:HASH`` (the hub's ``audit_seq`` and ``audit_hash``)."""
    seq, _, hash_ = text.partition(":")
    if not (seq.isdigit() and int(seq) >= 1 and len(hash_) == 64 and all(c in "0123456789abcdef" for c in hash_)):
        raise OncofedError(f"anchor {text!r}: expected SEQ:HASH, an entry number and its 64-hex-digit hash")
    return int(seq), hash_


def verify(con: duckdb.DuckDBPyConnection, *, anchor: tuple[int, str] | None = None) -> list[Problem]:
    """Every break in the chain, each naming the entry where it is; empty if the log is
    intact (and, given an earlier ``head``, still holds that entry unchanged)."""
    problems: list[Problem] = []
    expected, prev_hash, prev_flagged = 1, GENESIS, False
    result = con.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
    while rows := result.fetchmany(10_000):
        for row in rows:
            logged = _logged(row)
            seq = logged.seq
            flagged = False
            if seq > expected:
                span = f"entry {expected} is" if seq == expected + 1 else f"entries {expected}–{seq - 1} are"
                problems.append(Problem(expected, f"{span} missing"))
                flagged = True
            if _hash(_content(seq, logged.at, logged, logged.prev_hash)) != logged.hash:
                problems.append(Problem(seq, f"entry {seq} does not match its hash: it was altered or moved"))
                flagged = True
            elif logged.prev_hash != prev_hash and not (flagged or prev_flagged):
                # Reported once, where the chain breaks, not again for every entry after it.
                problems.append(Problem(seq, f"entry {seq} does not follow entry {seq - 1}: "
                                             f"entry {seq - 1} was replaced, or this one rewritten"))
                flagged = True
            expected, prev_hash, prev_flagged = seq + 1, logged.hash, flagged
    if anchor is not None:
        seq, anchored = anchor
        found = con.execute("SELECT hash FROM audit_log WHERE seq = ?", [seq]).fetchall()
        if not found or found[0][0] != anchored:
            problems.append(Problem(seq, f"entry {seq} is not the one anchored earlier: "
                                         "the log was cut short or rewritten after it"))
    return problems


def _checked(entry: Entry | Mapping[str, Any]) -> Entry:
    values = {**(asdict(entry) if isinstance(entry, Entry) else entry)}
    if values.get("outcome") not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {values.get('outcome')!r}")
    if values["outcome"] != "released" and not values.get("reason"):
        raise ValueError(f"a {values['outcome']} entry needs a reason")
    for name in ("datasets", "released"):
        values[name] = dict(values.get(name) or {})
    return Entry(**values)


def _content(seq: int, at: datetime, entry: Entry, prev_hash: str) -> dict[str, Any]:
    """The fields the hash covers, as plain JSON values."""
    return {
        "seq": seq, "at": at.isoformat(timespec="microseconds"), "requester": entry.requester, "kind": entry.kind,
        "datasets": json.loads(canonical(entry.datasets)), "request_digest": entry.request_digest,
        "outcome": entry.outcome, "reason": entry.reason, "released": json.loads(canonical(entry.released)),
        "prev_hash": prev_hash,
    }


def _hash(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def _logged(row: tuple) -> Logged:
    seq, at_us, requester, kind, datasets, request_digest, outcome, reason, released, prev_hash, hash_ = row
    return Logged(seq=seq, at=_EPOCH + timedelta(microseconds=at_us), requester=requester, kind=kind,
                  datasets=_parsed(datasets), request_digest=request_digest, outcome=outcome, reason=reason,
                  released=_parsed(released), prev_hash=prev_hash, hash=hash_)


def _parsed(text: str) -> Any:
    # A column edited into something that is not JSON must fail the hash check, not verify.
    try:
        return json.loads(text)
    except ValueError:
        return text

