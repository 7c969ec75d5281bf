"""Setting up a federation with the CLI, as a hub operator and a steward do."""

import json

from oncofed.auth import tokens
from oncofed.hub import home as hub_home
from oncofed.node import home as node_home


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
