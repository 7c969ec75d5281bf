"""Provenance: every completed run has an RO-Crate (Workflow Run Crate) naming its requester,
nodes, dataset versions, analysis, parameters, cohort, software and result; `oncofed rerun`
runs it again and says whether the result is identical and which dataset versions changed."""

import json
import zipfile
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from rocrate.rocrate import ROCrate

from conftest import DATA, database

import oncofed
from oncofed.auth import tokens
from oncofed.client.federation import FederationError
from oncofed.hub import provenance
from oncofed.hub.store import HubStore
from oncofed.ingest.pipeline import ingest
from oncofed.testing import LocalFederation

LUNG, LUNG_MAP = DATA / "ncctg-lung/lung.csv", DATA / "ncctg-lung/mapping.yaml"
SPLIT = {"a": "TRY_CAST(inst AS DOUBLE) <= 7", "b": "TRY_CAST(inst AS DOUBLE) BETWEEN 10 AND 13"}
COX = {"duration": "os_days", "event": "os_event", "covariates": ["age", "sex"]}
PROFILES = {"https://w3id.org/ro/wfrun/process/0.5", "https://w3id.org/ro/wfrun/workflow/0.5",
            "https://w3id.org/workflowhub/workflow-ro-crate/1.0"}


def record(**changes) -> dict:
    """A completed Cox run as the hub store keeps it: node a answered, node c timed out."""
    t = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    run = {"id": "run-1", "requester": "u1", "analysis": "cox", "version": "1", "status": "done",
           "request": {"analysis": "cox", "version": "1", "nodes": None, "timeout_s": 30,
                       "cohort": {"datasets": ["lung"], "filters": [{"variable": "age", "op": ">=", "value": 50}]},
                       "params": {**COX, "ties": "efron"}},
           "per_node": {"a": {"status": "ok", "seconds": 0.2, "round": 4, "datasets": {"lung": "sha256:aaa"}},
                        "c": {"status": "timed out", "reason": "no answer within 30 s", "round": 0}},
           "state": {"members": ["a"], "analysis": {}, "oncofed": "9.9.9"},
           "result": {"summary": {"columns": ["coef"], "index": ["age"], "data": [[0.017]]}},
           "created_at": t, "updated_at": t + timedelta(seconds=3)}
    return run | changes


CONTEXT = provenance.Context("hub", "Test hub", "https://hub.example.org", "Dr Researcher",
                             {"a": provenance.NodeInfo("Hospital A", "DE", "relay")})


def entities(crate: ROCrate, kind: str) -> dict:
    return {e.id: e for e in crate.get_entities() if kind in (e.type if isinstance(e.type, list) else [e.type])}


def test_the_crate_names_every_input_the_requester_and_the_software(tmp_path):
    crate = ROCrate(provenance.write(record(), CONTEXT, tmp_path / "crate"))
    run = crate.get("#run")
    assert run.type == "CreateAction" and run["actionStatus"] == "http://schema.org/CompletedActionStatus"
    assert run["agent"]["name"] == "Dr Researcher" and run["agent"]["identifier"] == "u1"
    assert run["startTime"] == "2025-03-01T12:00:00+00:00" and run["endTime"] == "2025-03-01T12:00:03+00:00"
    inputs = {e.id: e for e in run["object"]}
    versions = [e for e in inputs.values() if e.type == "Dataset"]  # each node's dataset version
    assert [(e["identifier"], e["version"], e["provider"]["identifier"]) for e in versions] == [("lung", "sha256:aaa", "a")]
    assert versions[0]["provider"]["location"]["name"] == "Germany"
    values = {e["name"]: e["value"] for e in inputs.values() if e.type == "PropertyValue"}
    assert values == {"duration": "os_days", "event": "os_event", "covariates": ["age", "sex"], "ties": "efron",
                      "cohort": json.dumps(record()["request"]["cohort"], sort_keys=True), "nodes": ["a"]}
    assert "request.json" in inputs  # the request as run, which `oncofed rerun` replays
    workflow = crate.mainEntity
    assert workflow is run["instrument"] and set(workflow.type) == {"File", "SoftwareSourceCode", "ComputationalWorkflow"}
    assert workflow["softwareRequirements"]["name"] == "oncofed" and workflow["softwareRequirements"]["version"] == "9.9.9"
    assert {f["name"] for f in workflow["input"]} >= {"duration", "covariates", "cohort", "nodes", "dataset_version"}
    assert all(e["exampleOfWork"] in workflow["input"] for e in inputs.values())
    assert {p.id for p in crate.root_dataset["conformsTo"]} == PROFILES
    result = json.loads((tmp_path / "crate" / "result.json").read_text())
    assert result["result"] == record()["result"] and result["per_node"]["c"]["status"] == "timed out"
    assert "#node-c" not in {e.id for e in crate.get_entities()}  # it gave nothing to the result


def test_the_same_run_always_gives_the_same_crate(tmp_path):
    first, second = (provenance.zip_bytes(record(), CONTEXT) for _ in range(2))
    assert first == second
    (tmp_path / "c.zip").write_bytes(first)
    assert provenance.read(tmp_path / "c.zip") == provenance.read(provenance.write(record(), CONTEXT, tmp_path / "d"))


def test_only_a_completed_run_has_a_crate():
    with pytest.raises(provenance.ProvenanceError, match="running"):
        provenance.crate(record(status="running"), CONTEXT)


def test_reading_names_what_was_run_and_what_changed(tmp_path):
    recorded = provenance.read(provenance.write(record(), CONTEXT, tmp_path / "crate"))
    assert (recorded.analysis, recorded.version, recorded.nodes, recorded.hub_url) == \
        ("cox", "1", ["a"], "https://hub.example.org")
    assert recorded.params == {**COX, "ties": "efron"} and recorded.cohort["datasets"] == ["lung"]
    changes = provenance.dataset_changes(recorded.datasets, {"a": {"lung": "sha256:bbb"}})
    assert [str(c) for c in changes] == ["a/lung: sha256:aaa → sha256:bbb"]
    assert provenance.result_differences(recorded.result, {"summary": {"columns": ["coef"], "index": ["age"],
                                                                       "data": [[0.018]]}}) == \
        ["result.summary.data[0][0]: 0.017 → 0.018"]
    with pytest.raises(provenance.ProvenanceError, match="not an RO-Crate"):
        provenance.read(tmp_path)


# end to end ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fed(request, tmp_path_factory):
    """Two nodes holding the lung trial split by institution: a direct, b relay."""
    folder = tmp_path_factory.mktemp(f"provenance-{request.param}")
    with database(request.param, folder) as db, LocalFederation(folder, db=db) as lf:
        for (name, where), transport in zip(SPLIT.items(), ("direct", "relay")):
            lf.add_node(name, country={"a": "DE", "b": "NL"}[name], transport=transport) \
                .add_dataset("lung", LUNG, mapping=LUNG_MAP, where=where)
        lf.start()
        yield lf


@pytest.fixture(scope="module")
def cox(fed, tmp_path_factory):
    """A Cox run and its crate, saved as a folder through the SDK."""
    result = fed.federation.cox(**COX, datasets=["lung"])
    return result, result.provenance.save(tmp_path_factory.mktemp("crate") / "cox")


def test_every_completed_run_has_a_crate_naming_its_dataset_versions(fed, cox):
    result, folder = cox
    crate = ROCrate(folder)
    versions = {(e["provider"]["identifier"], e["identifier"]): e["version"] for e in entities(crate, "Dataset").values()
                if e.id.startswith("#dataset-")}
    assert versions == {(node, "lung"): part["datasets"]["lung"] for node, part in result.raw["per_node"].items()}
    assert crate.get("#oncofed")["version"] == oncofed.__version__
    assert crate.get("#run")["agent"]["name"] == "local researcher"
    assert crate.get("#hub")["url"] == fed.hub_url
    assert json.loads((folder / "result.json").read_text())["result"] == result.result
    nodes = {e["identifier"]: e for e in entities(crate, "Organization").values() if e.id.startswith("#node-")}
    assert nodes["b"]["description"] == "oncofed node (relay transport)"


def test_the_crate_downloads_as_a_zip_for_its_requester_only(fed, cox, tmp_path):
    result, _ = cox
    saved = result.provenance.save(tmp_path / "run.zip")
    assert zipfile.is_zipfile(saved) and "ro-crate-metadata.json" in zipfile.ZipFile(saved).namelist()
    store = HubStore(fed.hub.config.db)
    try:
        other = tokens.issue(fed.hub.private_key, fed.hub.config.id, store.add_user("someone else"), timedelta(hours=1))
    finally:
        store.dispose()
    url = f"{fed.hub_url}/api/analyses/{result.run_id}/provenance"
    assert httpx.get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 404
    assert httpx.get(url).status_code == 401


def test_a_failed_run_has_no_crate(fed):
    with pytest.raises(FederationError) as failed:
        fed.federation.count(datasets=["no-such-dataset"])
    run_id = failed.value.raw["run"]
    response = httpx.get(f"{fed.hub_url}/api/analyses/{run_id}/provenance",
                         headers={"Authorization": f"Bearer {fed.token}"})
    assert response.status_code == 409 and "failed" in response.json()["error"]


def test_rerun_on_an_unchanged_federation_gives_the_identical_result(fed, cox, cli):
    _, folder = cox
    answer = json.loads(cli("rerun", folder, "--token", fed.token, "--json").stdout)  # the hub: the crate's
    assert answer["identical"] is True and answer["differences"] == [] and answer["dataset_changes"] == []
    assert answer["rerun"] != answer["run"]
    assert "identical result" in cli("rerun", folder, "--token", fed.token).stdout


def test_rerun_after_a_dataset_changed_says_which_version_changed(fed, cox, cli):
    result, folder = cox
    old = result.raw["per_node"]["a"]["datasets"]["lung"]
    fed.kill_node("a")  # the node holds its store; re-ingest as a steward would, with the node stopped
    ingest(fed.nodes["a"].home, "lung", "csv", [LUNG], mapping=LUNG_MAP, where="TRY_CAST(inst AS DOUBLE) <= 12")
    fed.start_node("a")
    new = fed.federation.count(datasets=["lung"], nodes=["a"]).raw["per_node"]["a"]["datasets"]["lung"]
    assert new != old
    again = cli("rerun", folder, "--token", fed.token, "--json", ok=False)
    assert again.exit_code == 1
    answer = json.loads(again.stdout)
    assert answer["identical"] is False and answer["differences"]
    assert answer["dataset_changes"] == [{"node": "a", "dataset": "lung", "old": old, "new": new}]
    text = cli("rerun", folder, "--token", fed.token, ok=False).stdout
    assert "the result differs" in text and f"a/lung: {old} → {new}" in text
