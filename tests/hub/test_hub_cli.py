"""Setting up a federation with the CLI, as a hub operator and a steward do."""

import json

import httpx
from sqlalchemy import select

from test_catalogue_harvest import eventually
from test_faults import wait_for_text
from test_federation import LUNG, LUNG_MAP, SPLIT

from oncofed.auth import keys, tokens
from oncofed.hub import home as hub_home
from oncofed.hub.store import HubStore, relay_requests
from oncofed.node import home as node_home
from oncofed.testing import LocalFederation


def test_a_hub_and_a_node_are_introduced_to_each_other_with_the_cli(tmp_path, cli, hub_db):
    cli("hub", "init", tmp_path / "hub", "--name", "Test Hub", "--db", hub_db)
    (tmp_path / "hub.json").write_text(cli("hub", "info", tmp_path / "hub").stdout)
    cli("node", "init", tmp_path / "node", "--name", "Hospital A", "--country", "DE")
    cli("node", "trust-hub", tmp_path / "node", "--info", tmp_path / "hub.json", "--url", "http://127.0.0.1:9")
    assert node_home.load(tmp_path / "node").config.hub.id == "test-hub"
    (tmp_path / "node.json").write_text(cli("node", "info", tmp_path / "node").stdout)
    cli("hub", "add-node", tmp_path / "hub", "--info", tmp_path / "node.json", "--transport", "relay")
    nodes = json.loads(cli("hub", "nodes", tmp_path / "hub", "--json").stdout)
    assert [(n["id"], n["country"], n["transport"], n["last_seen"]) for n in nodes] == [
        ("hospital-a", "DE", "relay", None)]
    again = cli("hub", "add-node", tmp_path / "hub", "--info", tmp_path / "node.json", "--transport", "relay", ok=False)
    assert again.exit_code == 1 and "already registered" in again.output
    token = cli("hub", "user", "add", tmp_path / "hub", "Dr Who", "--days", "7").stdout.strip()
    hub = hub_home.load(tmp_path / "hub")
    claims = tokens.verify(token, [hub.public_key], issuer="test-hub")
    assert claims.subject


def test_a_node_without_a_trusted_hub_will_not_serve(tmp_path, cli):
    cli("node", "init", tmp_path / "node", "--name", "B", "--country", "NL")
    result = cli("node", "connect", tmp_path / "node", "--hub", "http://127.0.0.1:9", ok=False)
    assert result.exit_code == 1 and "trust-hub" in result.output


def test_the_operator_changes_a_node_and_bad_changes_leave_it_as_it_was(tmp_path, cli, hub_db):
    cli("hub", "init", tmp_path / "hub", "--name", "Test Hub", "--db", hub_db)
    cli("node", "init", tmp_path / "node", "--name", "Hospital A", "--country", "DE")
    (tmp_path / "node.json").write_text(cli("node", "info", tmp_path / "node").stdout)
    cli("hub", "add-node", tmp_path / "hub", "--info", tmp_path / "node.json", "--transport", "direct",
        "--url", "http://127.0.0.1:9")

    def registered() -> dict:
        (node,) = json.loads(cli("hub", "nodes", tmp_path / "hub", "--json").stdout)
        return node

    changed = cli("hub", "set-node", tmp_path / "hub", "hospital-a", "--url", "https://a.example.org:8701",
                  "--timeout", "120")
    assert "changed: timeout_s, url" in " ".join(changed.output.split())
    assert (registered()["url"], registered()["timeout_s"]) == ("https://a.example.org:8701", 120)
    assert "120 s" in cli("hub", "nodes", tmp_path / "hub").output
    before = registered()
    for args, says in [
        (["--timeout", "0"], "timeout: expected whole seconds from 1 to 600, not 0"),
        (["--url", "a.example.org"], "--url: expected an http:// or https:// address"),
        (["--transport", "pigeon"], "unknown transport 'pigeon'"),
        ([], "nothing to change"),
    ]:
        refused = cli("hub", "set-node", tmp_path / "hub", "hospital-a", *args, ok=False)
        assert refused.exit_code == 1 and says in refused.output, refused.output
        assert registered() == before
    # a node that made a new key hands its info over again; another node's info is refused
    (tmp_path / "other.json").write_text(json.dumps({**json.loads((tmp_path / "node.json").read_text()),
                                                     "id": "hospital-b"}))
    refused = cli("hub", "set-node", tmp_path / "hub", "hospital-a", "--info", tmp_path / "other.json", ok=False)
    assert "describes node 'hospital-b', not 'hospital-a'" in refused.output and registered() == before
    (tmp_path / "broken.json").write_text('{"id": "hospital-a"}')
    refused = cli("hub", "set-node", tmp_path / "hub", "hospital-a", "--info", tmp_path / "broken.json", ok=False)
    assert "not a node info file (expected text for name, country, public_key)" in refused.output
    new_key = keys.public_b64(keys.generate())
    (tmp_path / "rekeyed.json").write_text(json.dumps({**json.loads((tmp_path / "node.json").read_text()),
                                                       "public_key": new_key}))
    cli("hub", "set-node", tmp_path / "hub", "hospital-a", "--info", tmp_path / "rekeyed.json")
    assert registered()["public_key"] == new_key
    cli("hub", "set-node", tmp_path / "hub", "hospital-a", "--transport", "relay")
    assert (registered()["transport"], registered()["url"]) == ("relay", None)

    assert json.loads(cli("hub", "remove-node", tmp_path / "hub", "hospital-a", "--json").stdout) == {
        "removed": "hospital-a", "requests_ended": 0}
    assert json.loads(cli("hub", "nodes", tmp_path / "hub", "--json").stdout) == []
    again = cli("hub", "remove-node", tmp_path / "hub", "hospital-a", ok=False)
    assert again.exit_code == 1 and "unknown node 'hospital-a'" in again.output


def test_a_running_hub_takes_node_changes_from_the_cli_and_a_removed_node_ends_its_waiting_run(tmp_path, cli, hub_db):
    with LocalFederation(tmp_path, db=hub_db) as lf:
        lf.add_node("a", country="DE").add_dataset("lung", LUNG, mapping=LUNG_MAP, where=SPLIT["a"])
        lf.add_node("c", country="FR", transport="relay").add_dataset("lung", LUNG, mapping=LUNG_MAP,
                                                                       where=SPLIT["c"])
        fed = lf.start()
        hub = lf.hub.path
        cli("hub", "harvest", hub)
        assert list(fed.datasets().index) == ["a/lung", "c/lung"]
        lf.kill_node("c")

        # a timeout changed from the command line holds from the running hub's next run
        cli("hub", "set-node", hub, "c", "--timeout", "1")
        assert fed.count().per_node.loc["c", "reason"] == "no answer within 1 s"

        # removing c while a run waits for it ends that wait, long before c's timeout
        cli("hub", "set-node", hub, "c", "--timeout", "600")
        auth = {"Authorization": f"Bearer {lf.token}"}
        run_id = httpx.post(f"{lf.hub_url}/api/analyses", json={"analysis": "count"}, params={"wait": 0},
                            headers=auth).json()["run"]
        eventually(lambda: waiting_for(lf, "c"), "the run's request for c was never queued")
        removed = json.loads(cli("hub", "remove-node", hub, "c", "--json").stdout)
        assert removed == {"removed": "c", "requests_ended": 1}
        final = httpx.get(f"{lf.hub_url}/api/analyses/{run_id}", params={"wait": 60}, headers=auth,
                          timeout=90).json()
        assert final["status"] == "done", final
        assert final["per_node"]["c"]["status"] == "error"
        assert "unregistered from the hub" in final["per_node"]["c"]["reason"]
        assert final["result"]["count"] == fed.count(nodes=["a"]).count

        # c is gone from the catalogue, the node list and every later run
        assert list(fed.datasets().index) == ["a/lung"]
        assert httpx.get(f"{lf.hub_url}/api/catalogue/nodes/c").status_code == 404
        assert [n["id"] for n in json.loads(cli("hub", "nodes", hub, "--json").stdout)] == ["a"]
        assert list(fed.count().per_node.index) == ["a"]

        # c, started again, is told plainly that the hub no longer takes it
        log = lf.workdir / "node-c.log"
        since = log.stat().st_size
        lf.start_node("c", wait=False)
        wait_for_text(log, "the hub refuses this node", since=since)
        assert "is it registered there as 'c'" in log.read_text()


def waiting_for(lf: LocalFederation, node: str) -> list:
    """The hub's open relay requests for a node."""
    store = HubStore(lf.hub.config.db)
    try:
        with store.engine.connect() as c:
            return c.execute(select(relay_requests.c.id).where(relay_requests.c.node_id == node,
                                                               relay_requests.c.status == "queued")).all()
    finally:
        store.dispose()
