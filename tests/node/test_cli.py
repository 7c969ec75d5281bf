"""The node commands as a steward runs them, end to end through the `oncofed` CLI."""

import json
import os
import stat
import subprocess
import sys

import phenopackets as pp
from google.protobuf.json_format import Parse

from conftest import CONFORMANCE, DATA, REPO, sha256
from oncofed.node import home

PHENOPACKETS = CONFORMANCE / "phenopackets"
MCODE = CONFORMANCE / "mcode"


def test_init_makes_a_node_with_a_private_secret(tmp_path, cli):
    cli("node", "init", tmp_path / "n", "--name", "Hospital A", "--country", "nl")
    h = home.load(tmp_path / "n")
    assert (h.config.name, h.config.country) == ("Hospital A", "NL")
    assert stat.S_IMODE(os.stat(tmp_path / "n" / "secret.key").st_mode) == 0o600
    other = home.init(tmp_path / "m", "B", "DE")
    assert h.pseudonyms.one("ds", "1") != other.pseudonyms.one("ds", "1")


def test_init_refuses_a_bad_country_and_a_used_folder(tmp_path, cli):
    bad = cli("node", "init", tmp_path / "n", "--name", "A", "--country", "XX", ok=False)
    assert bad.exit_code == 1 and "'XX' is not an ISO 3166-1 alpha-2 country code" in bad.output
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    used = cli("node", "init", tmp_path / "used", "--name", "A", "--country", "DE", ok=False)
    assert used.exit_code == 1 and "not empty" in used.output


def test_a_folder_that_is_no_node_is_named(tmp_path, cli):
    result = cli("node", "datasets", tmp_path, ok=False)
    assert result.exit_code == 1 and "is not an oncofed node" in result.output


def test_add_dataset_refuses_duplicates_and_bad_ids(node, cli):
    cli("node", "add-dataset", node.path, "lung", "--title", "Lung", "--duo", "DUO:0000042", "--licence", "CC0-1.0")
    listed = json.loads(cli("node", "datasets", node.path, "--json").stdout)
    assert {d["id"]: d["duo"] for d in listed}["lung"] == ["DUO:0000042"]
    assert "already exists" in cli("node", "add-dataset", node.path, "lung", "--title", "x", ok=False).output
    assert "bad dataset id" in cli("node", "add-dataset", node.path, "Lung Data", "--title", "x", ok=False).output


def test_phenopackets_round_trip_through_the_store(node, cli, tmp_path):
    files = [PHENOPACKETS / "urothelial-carcinoma.json"]
    cli("node", "ingest", node.path, *files, "--dataset", "ds", "--format", "phenopacket")
    cli("node", "export-phenopacket", node.path, "ds", "--out", tmp_path / "out")
    exported = sorted((tmp_path / "out").glob("*.json"))
    assert len(exported) == 1
    packet = Parse(exported[0].read_text(), pp.Phenopacket())  # strict: unknown fields fail
    assert packet.subject.id == node.pseudonyms.one("ds", "patient1")
    assert packet.diseases[0].term.id == "NCIT:C39853"
    assert len(packet.biosamples) == 5
    # The exported document reads back into the same clinical record (ids pseudonymised again).
    with node.store() as store:
        store.add_dataset("again", "re-ingested export")
    cli("node", "ingest", node.path, tmp_path / "out", "--dataset", "again", "--format", "phenopacket")
    with node.store(read_only=True) as store:
        first, second = store.counts("ds"), store.counts("again")
        codes = "SELECT code, stage, t_category, n_category, m_category FROM diseases WHERE dataset_id = ?"
        assert store.con.execute(codes, ["ds"]).fetchall() == store.con.execute(codes, ["again"]).fetchall()
    assert first == second


def test_reingesting_a_phenopacket_folder_is_idempotent(node, cli):
    args = ("node", "ingest", node.path, PHENOPACKETS / "esophageal-squamous-cell-carcinoma.json",
            "--dataset", "ds", "--format", "phenopacket")
    cli(*args)
    before = sha256(node.store_path)
    assert "unchanged" in cli(*args).output
    assert sha256(node.store_path) == before


def test_the_mcode_bundle_keeps_its_stage_and_categories(node, cli):
    cli("node", "ingest", node.path, MCODE / "Bundle-mcode-patient-bundle-john-anyperson.json",
        "--dataset", "ds", "--format", "fhir")
    with node.store(read_only=True) as store:
        row = store.con.execute(
            "SELECT stage, stage_basis, t_category, n_category, m_category FROM diseases").fetchall()
        blob = " ".join(str(v) for t in ("individuals", "diseases", "measurements")
                        for r in store.con.execute(f"SELECT * FROM {t}").fetchall() for v in r)
    assert len(row) == 1 and row[0][1] == "clinical" and all(row[0])
    assert "john-anyperson" not in blob and "Anyperson" not in blob


def test_a_broken_fhir_file_leaves_the_store_as_it_was(node, cli, tmp_path):
    cli("node", "ingest", node.path, MCODE / "Bundle-mcode-patient-bundle-john-anyperson.json",
        "--dataset", "ds", "--format", "fhir")
    before = sha256(node.store_path)
    bad = tmp_path / "bad.json"
    bad.write_text((MCODE / "Bundle-mcode-patient-bundle-john-anyperson.json").read_text()[:5000])
    result = cli("node", "ingest", node.path, bad, "--dataset", "ds", "--format", "fhir", ok=False)
    assert result.exit_code == 1 and "bad.json" in result.output and "line" in result.output
    assert sha256(node.store_path) == before


def test_the_demo_builds_three_nodes_from_the_real_cohorts(tmp_path, cli):
    output = cli("demo", "--build-only", "--dir", tmp_path / "demo").output
    for name in ("demo-de", "demo-nl", "demo-fr"):
        assert name in output
    lung = 0
    for name in ("demo-de", "demo-nl", "demo-fr"):
        with home.load(tmp_path / "demo" / name).store(read_only=True) as store:
            lung += store.counts("ncctg-lung")["individuals"]
    assert lung == 228  # every lung patient is on exactly one node


def test_the_installed_command_runs(tmp_path):
    """The console script, as a steward types it (a real process, not the test runner)."""
    exe = os.path.join(os.path.dirname(sys.executable), "oncofed")
    done = subprocess.run([exe, "node", "init", str(tmp_path / "n"), "--name", "A", "--country", "DE"],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([exe, "node", "ingest", str(tmp_path / "n"), str(DATA / "gbsg2/gbsg2.csv"),
                          "--dataset", "nope", "--format", "csv"], capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown dataset 'nope'" in bad.stderr and "Traceback" not in bad.stderr
