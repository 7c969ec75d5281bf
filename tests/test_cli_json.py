"""Every command that prints data prints it as JSON with --json, for scripts."""

import json

import typer

from oncofed import cli as cli_module


def commands(app: typer.Typer, prefix: str = ""):
    for c in app.registered_commands:
        yield prefix + c.name, c.callback
    for g in app.registered_groups:
        yield from commands(g.typer_instance, prefix + g.name + " ")


ALWAYS_JSON = {"node info", "hub info", "hub visa-trust"}  # they print nothing else
NO_DATA = {"node trust-hub", "node trust-visas", "node serve", "node connect", "node describe-catalogue",
           "node catalogue",  # RDF, in the --format asked
           "node draft-mapping",  # YAML with comments: the draft itself
           "hub serve", "hub issuer"}


def test_every_command_that_prints_data_takes_json():
    import inspect

    lacking = [name for name, fn in commands(cli_module.app)
               if "as_json" not in inspect.signature(fn).parameters and name not in ALWAYS_JSON | NO_DATA]
    assert lacking == []


def test_setting_up_a_federation_can_be_scripted(tmp_path, cli):
    node = json.loads(cli("node", "init", tmp_path / "n", "--name", "Node A", "--country", "DE", "--json").stdout)
    assert node["country"] == "DE" and node["path"] == str(tmp_path / "n")
    dataset = json.loads(cli("node", "add-dataset", tmp_path / "n", "lung", "--title", "Lung", "--json").stdout)
    assert dataset["id"] == "lung" and dataset["title"] == "Lung"
    hub = json.loads(cli("hub", "init", tmp_path / "h", "--name", "Hub", "--json").stdout)
    assert hub["id"] == "hub" and hub["db"].startswith("sqlite:///")
    (tmp_path / "n.json").write_text(cli("node", "info", tmp_path / "n").stdout)
    added = json.loads(cli("hub", "add-node", tmp_path / "h", "--info", tmp_path / "n.json", "--transport", "relay",
                           "--json").stdout)
    assert added["id"] == node["id"] and added["transport"] == "relay"
    user = json.loads(cli("hub", "user", "add", tmp_path / "h", "Dr A", "--json").stdout)
    assert user["name"] == "Dr A" and user["token"].count(".") == 2
    roles = json.loads(cli("hub", "user", "role", tmp_path / "h", user["id"], "steward", node["id"], "--json").stdout)
    assert roles == {"user": user["id"], "roles": [{"role": "steward", "scope": node["id"]}]}
    exported = json.loads(cli("node", "export-phenopacket", tmp_path / "n", "lung", "--out", tmp_path / "pp",
                              "--json").stdout)
    assert exported == {"dataset": "lung", "written": []}
