"""A drafted mapping loads as it is and ingests (dry run) every shipped clinical table; its
guesses are right where a name and values settle them, and marked TODO where they do not."""

import json

import pandas as pd
import pytest

from conftest import DATA, sha256
from oncofed.ingest import draft, mapping

TABLES = ["ncctg-lung/lung.csv", "gbsg2/gbsg2.csv", "rotterdam/rotterdam.csv", "colon/colon.csv",
          "leuksurv/leuksurv.csv"]


@pytest.mark.parametrize("table", TABLES)
def test_a_draft_loads_and_a_dry_run_ingests_every_row_and_writes_nothing(table, node, tmp_path, cli):
    drafted = tmp_path / "mapping.yaml"
    cli("node", "draft-mapping", DATA / table, "--out", drafted)
    mapping.load(drafted)
    before = sha256(node.store_path)
    dry = json.loads(cli("node", "ingest", node.path, DATA / table, "--dataset", "ds", "--format", "csv",
                         "--mapping", drafted, "--dry-run", "--json").stdout)
    assert dry["counts"]["individuals"] == len(pd.read_csv(DATA / table))
    assert sha256(node.store_path) == before
    text = drafted.read_text()
    for column in pd.read_csv(DATA / table, nrows=0).columns:  # every column is mapped or listed
        assert f"column: {column}" in text or f"column: '{column}'" in text


def test_the_guesses_follow_names_and_values():
    rotterdam = draft.draft(DATA / "rotterdam/rotterdam.csv")
    assert "id: {column: pid}" in rotterdam  # unique per row
    assert "days: {column: dtime, unit: d}" in rotterdam and "event: {column: death" in rotterdam  # d… with d…
    lung = draft.draft(DATA / "ncctg-lung/lung.csv")
    assert "id: {row_number: true}" in lung
    assert "sex: {column: sex, map: {'1': NCIT:C20197, '2': NCIT:C16576}}   # TODO check" in lung
    colon = draft.draft(DATA / "colon/colon.csv")
    assert "'id' repeats (929 values in 1,858 rows)" in colon
    leuksurv = draft.draft(DATA / "leuksurv/leuksurv.csv")
    assert "# sex: {column: fac_sex, map: {'0': TODO, '1': TODO}}" in leuksurv  # 0/1: no guess
    assert "age_at_diagnosis: {column: num_age, unit: a}" in leuksurv


def test_words_for_sex_are_mapped_and_a_tsv_is_read(tmp_path):
    table = tmp_path / "t.tsv"
    table.write_text("patient_id\tgender\tstage\nA1\tFemale\tIII\nA2\tmale\tII\nA3\tF\t\n")
    text = draft.draft(table, "\t")
    assert "id: {column: patient_id}" in text
    assert "sex: {column: gender, map: {" in text and "Female: NCIT:C16576" in text and "male: NCIT:C20197" in text
    assert "--format tsv" in text
    assert "stage: text, 2 distinct; 1 missing; values II ×1, III ×1" in text


def test_a_file_that_is_not_there_or_not_a_table_is_named(tmp_path, cli):
    missing = cli("node", "draft-mapping", tmp_path / "nope.csv", ok=False)
    assert missing.exit_code == 1 and "no such file" in missing.output
    (tmp_path / "bad.csv").write_text("a,b\n1,2,3\n")
    bad = cli("node", "draft-mapping", tmp_path / "bad.csv", ok=False)
    assert bad.exit_code == 1 and "line 2" in bad.output and "wrong number of fields" in bad.output
