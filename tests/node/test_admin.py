"""A steward adds and ingests datasets while the node serves, through its local door
(``node.admin``): the new data are answered from at once, bad input changes nothing."""

import json
import socket
import stat

from pathlib import Path

import httpx
import pandas as pd
import pytest

from conftest import DATA
from oncofed.node import admin
from oncofed.node.home import NodeHome
from oncofed.testing import LocalFederation

LUNG = DATA / "ncctg-lung/lung.csv"
GBSG2 = DATA / "gbsg2/gbsg2.csv"
DESCRIPTION = Path(__file__).parents[1] / "catalogue/data/gbsg2.yaml"


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    with LocalFederation(tmp_path_factory.mktemp("door")) as lf:
        lf.add_node("a", country="DE").add_dataset("lung", LUNG, mapping=DATA / "ncctg-lung/mapping.yaml")
        lf.add_node("b", country="NL", transport="relay") \
            .add_dataset("lung", LUNG, mapping=DATA / "ncctg-lung/mapping.yaml")
        lf.start()
        yield lf


@pytest.mark.parametrize("node", ["a", "b"])  # served over HTTP, and by the relay agent
def test_a_dataset_added_and_ingested_while_the_node_serves_is_answered_from_at_once(serving, cli, node):
    home = serving.nodes[node].home.path
    cli("node", "add-dataset", home, "gbsg2", "--title", "German Breast Cancer Study Group 2")
    done = cli("node", "ingest", home, "--dataset", "gbsg2", "--format", "csv", GBSG2,
               "--mapping", DATA / "gbsg2/mapping.yaml")
    assert "ingested this between requests" in done.output and "version 1" in done.output
    counted = serving.federation.count(datasets=["gbsg2"], nodes=[node])
    assert counted.count == len(pd.read_csv(GBSG2))
    assert set(counted.per_node.loc[node, "datasets"]) == {"gbsg2"}
    again = cli("node", "ingest", home, "--dataset", "gbsg2", "--format", "csv", GBSG2,
                "--mapping", DATA / "gbsg2/mapping.yaml")
    assert "unchanged" in again.output
    checked = cli("node", "ingest", home, "--dataset", "gbsg2", "--format", "csv", GBSG2,
                  "--mapping", DATA / "gbsg2/mapping.yaml", "--replace", "--dry-run")
    assert "checked this between requests" in checked.output and "would be unchanged" in checked.output


def test_bad_input_through_the_door_says_where_and_changes_nothing(serving, cli, tmp_path):
    home = serving.nodes["a"].home.path
    before = serving.federation.count(datasets=["lung"], nodes=["a"])
    bad = tmp_path / "lung.csv"
    lines = LUNG.read_text().splitlines()
    bad.write_text("\n".join(lines[:5] + [lines[5] + ",surplus"] + lines[6:]) + "\n")
    refused = cli("node", "ingest", home, "--dataset", "lung", "--format", "csv", bad,
                  "--mapping", DATA / "ncctg-lung/mapping.yaml", ok=False)
    assert refused.exit_code == 1
    assert str(bad) in refused.output and "line 6" in refused.output and "wrong number of fields" in refused.output
    unknown = cli("node", "ingest", home, "--dataset", "nope", "--format", "csv", LUNG, ok=False)
    assert unknown.exit_code == 1 and "unknown dataset 'nope'" in unknown.output
    after = serving.federation.count(datasets=["lung"], nodes=["a"])
    assert after.count == before.count
    assert after.per_node.loc["a", "datasets"] == before.per_node.loc["a", "datasets"]


def test_only_the_nodes_owner_may_open_the_door(serving):
    door = admin.socket_path(serving.nodes["a"].home)
    assert stat.S_ISSOCK(door.stat().st_mode) and stat.S_IMODE(door.stat().st_mode) == 0o600


def test_datasets_and_show_read_from_the_serving_node_as_from_the_file(serving, cli):
    home = serving.nodes["a"].home.path
    listed = json.loads(cli("node", "datasets", home, "--json").stdout)
    shown = json.loads(cli("node", "show", home, "lung", "--json").stdout)
    assert {d["id"]: d["individuals"] for d in listed}["lung"] == len(pd.read_csv(LUNG))
    assert shown["counts"]["individuals"] == len(pd.read_csv(LUNG)) and shown["access"]["registered"] == "count"
    assert "version" in cli("node", "show", home, "lung").stdout
    served = (listed, shown)
    serving.kill_node("a")  # the same from the file
    try:
        assert (json.loads(cli("node", "datasets", home, "--json").stdout),
                json.loads(cli("node", "show", home, "lung", "--json").stdout)) == served
    finally:
        serving.start_node("a")


def test_a_steward_sets_disclosure_and_describes_a_dataset_while_the_node_serves(serving, cli):
    home = serving.nodes["a"].home.path
    changed = json.loads(cli("node", "access", home, "lung", "--public", "count", "--json").stdout)
    assert changed["public"] == "count"
    query = {"requestedGranularity": "count", "requestParameters": {"datasets": {"datasetIds": ["lung"]}}}
    anyone = httpx.post(f"{serving.nodes['a'].url}/api/individuals", json={"query": query}).json()
    assert anyone["meta"]["returnedGranularity"] == "count", anyone  # answered at once with the new ceiling
    described = json.loads(cli("node", "describe", home, "lung", "--file", DESCRIPTION, "--json").stdout)
    assert described["from_the_data"]["individuals"] == len(pd.read_csv(LUNG))
    assert json.loads(cli("node", "access", home, "lung", "--public", "boolean", "--json").stdout)["public"] == "boolean"


def test_the_audit_log_export_and_catalogue_read_from_the_serving_node(serving, cli, tmp_path):
    home = serving.nodes["a"].home.path
    serving.federation.count(datasets=["lung"], nodes=["a"])
    logged = json.loads(cli("node", "audit", home, "--last", "3", "--json").stdout)
    assert 1 <= len(logged) <= 3 and logged[-1]["kind"].startswith("count@")
    assert "intact" in cli("node", "audit", home, "--verify").stdout
    exported = json.loads(cli("node", "export-phenopacket", home, "lung", "--out", tmp_path / "pp", "--json").stdout)
    assert len(exported["written"]) == len(pd.read_csv(LUNG)) == len(list((tmp_path / "pp").glob("*.json")))
    assert "dcat:Dataset" in cli("node", "catalogue", home).stdout


def test_a_node_folder_too_deep_for_a_socket_gets_one_in_the_temporary_folder(tmp_path):
    deep = NodeHome(tmp_path / ("d" * 120), None, None, None)
    path = admin.socket_path(deep)
    assert len(str(path)) < 100 and path.name.startswith("oncofed-")
    assert admin.socket_path(deep) == path


@pytest.mark.parametrize("request_line", [b"not json\n", b'{"op": "drop-everything", "args": {}}\n',
                                          b'{"op": "ingest", "args": {"dataset_id": "lung"}}\n'])
def test_a_malformed_request_at_the_door_is_answered_with_an_error(serving, request_line):
    door = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    door.connect(str(admin.socket_path(serving.nodes["a"].home)))
    with door, door.makefile("rwb") as stream:
        stream.write(request_line)
        stream.flush()
        answer = json.loads(stream.readline())
    assert answer["event"] == "error" and answer["message"].startswith("a request at the door: ")
    assert serving.federation.count(datasets=["lung"], nodes=["a"]).per_node.loc["a", "status"] == "ok"
