"""The hub keeps each node's audit head, as the node signed it in its answers, so a steward (or
an auditor) can prove that no entry before it was removed from the node's log: the one edit a
hash chain alone cannot show. End to end, on real processes, over direct and relay nodes."""

import json

import duckdb
import pytest

from test_federation import LUNG, LUNG_MAP, SPLIT

from oncofed.testing import LocalFederation


def anchors(cli, lf) -> dict[str, str]:
    """Each node's anchor as the hub keeps it, SEQ:HASH."""
    nodes = json.loads(cli("hub", "nodes", lf.hub.path, "--json").stdout)
    return {n["id"]: f"{n['audit_seq']}:{n['audit_hash']}" for n in nodes if n["audit_seq"]}


def verify(cli, lf, name: str, *anchor: str):
    return cli("node", "audit", lf.nodes[name].home.path, "--verify", *(("--anchor", *anchor) if anchor else ()),
               ok=False)


@pytest.mark.parametrize("name", ["a", "c"], ids=["direct", "relay"])
def test_a_log_cut_short_is_caught_against_the_hubs_anchor(tmp_path, cli, hub_db, name):
    with LocalFederation(tmp_path, db=hub_db) as lf:
        lf.add_node("a", country="DE").add_dataset("lung", LUNG, mapping=LUNG_MAP, where=SPLIT["a"])
        lf.add_node("c", country="FR", transport="relay").add_dataset("lung", LUNG, mapping=LUNG_MAP,
                                                                       where=SPLIT["c"])
        fed = lf.start()
        fed.count(where=["age >= 60"])
        anchor = anchors(cli, lf)[name]  # the first answer's head is kept at once
        seq = int(anchor.split(":")[0])
        held = verify(cli, lf, name, anchor)  # while the node serves: through its door
        assert held.exit_code == 0 and "audit log intact" in held.output
        malformed = verify(cli, lf, name, anchor[:-1])
        assert malformed.exit_code == 1 and "expected SEQ:HASH" in malformed.output
        fed.count(where=["age >= 50"])  # the log grows past the anchor: still intact
        assert verify(cli, lf, name, anchor).exit_code == 0

        # the node's operator stops it and removes the anchored entry and all after it
        lf.kill_node(name)
        with duckdb.connect(str(lf.nodes[name].home.store_path)) as con:
            con.execute("DELETE FROM audit_log WHERE seq >= ?", [seq])
        assert verify(cli, lf, name).exit_code == 0  # the shorter chain is valid on its own
        caught = verify(cli, lf, name, anchor)
        assert caught.exit_code == 1
        assert f"entry {seq} is not the one anchored earlier" in " ".join(caught.output.split())

        # the node serves on and writes new entries from that number: the hub keeps its anchor
        lf.start_node(name)
        fed.count(where=["age >= 40"])
        assert anchors(cli, lf)[name] == anchor
        assert verify(cli, lf, name, anchor).exit_code == 1


def test_an_anchor_must_be_given_with_verify_and_well_formed(tmp_path, cli):
    cli("node", "init", tmp_path / "n", "--name", "N", "--country", "DE")
    alone = cli("node", "audit", tmp_path / "n", "--anchor", "1:" + "a" * 64, ok=False)
    assert alone.exit_code == 1 and "--anchor is checked by --verify" in alone.output
    for bad in ("1", "x:" + "a" * 64, "0:" + "a" * 64, "1:" + "g" * 64, "1:abc"):
        refused = cli("node", "audit", tmp_path / "n", "--verify", "--anchor", bad, ok=False)
        assert refused.exit_code == 1 and "expected SEQ:HASH" in refused.output, refused.output
    assert cli("node", "audit", tmp_path / "n", "--verify", "--anchor", "1:" + "a" * 64, ok=False).exit_code == 1
