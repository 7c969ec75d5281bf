"""Clinical tables with a YAML mapping: the real demo cohorts, and a corpus of broken inputs."""

import gzip
import json

import pandas as pd
import pytest

from conftest import DATA, sha256
from oncofed.errors import IngestError
from oncofed.ingest.pipeline import ingest
from oncofed.store.connection import one

COHORTS = {
    # dataset: (file, rows in file, individuals)
    "ncctg-lung": ("ncctg-lung/lung.csv", 228, 228),
    "gbsg2": ("gbsg2/gbsg2.csv", 686, 686),
    "colon": ("colon/colon.csv", 1858, 929),
    "rotterdam": ("rotterdam/rotterdam.csv", 2982, 2982),
}


def load(node, dataset, **kw):
    path, _, _ = COHORTS[dataset]
    with node.store() as store:
        if dataset not in [d.id for d in store.datasets()]:
            store.add_dataset(dataset, dataset)
    return ingest(node, dataset, "csv", [DATA / path], mapping=DATA / path.split("/")[0] / "mapping.yaml", **kw)


@pytest.mark.parametrize("dataset", COHORTS)
def test_each_demo_cohort_ingests_every_patient(node, dataset):
    result = load(node, dataset)
    assert result.created and result.version == 1
    assert result.counts["individuals"] == COHORTS[dataset][2]
    assert result.counts["diseases"] == COHORTS[dataset][2]


def test_lung_values_arrive_as_codes_and_days(node):
    load(node, "ncctg-lung")
    source = pd.read_csv(DATA / "ncctg-lung/lung.csv")
    first = node.pseudonyms.one("ncctg-lung", "1")
    with node.store() as store:
        ind = one(store.con, "SELECT sex, vital_status, followup_days, country FROM individuals WHERE id = ?", [first])
        assert ind == ("NCIT:C20197", "NCIT:C28554", 306.0, "US")
        os_ = store.con.execute("SELECT days, event FROM outcomes WHERE individual_id = ?", [first]).fetchall()
        assert os_ == [(306.0, True)]
        events = one(store.con, "SELECT count(*) FROM outcomes WHERE event")[0]
        assert events == int(source.status.sum())
        ecog = one(store.con, "SELECT count(*) FROM measurements WHERE code = 'LOINC:89247-1'")[0]
        assert ecog == source["ph.ecog"].notna().sum()


def test_a_long_table_gives_one_individual_with_both_endpoints(node):
    load(node, "colon")
    source = pd.read_csv(DATA / "colon/colon.csv")
    with node.store() as store:
        per_endpoint = dict(store.con.execute(
            "SELECT endpoint, count(*) FROM outcomes GROUP BY endpoint").fetchall())
        assert per_endpoint == {"NCIT:C125201": 929, "ONCOFED:time_to_recurrence": 929}
        deaths = one(store.con, "SELECT count(*) FROM individuals WHERE vital_status = 'NCIT:C28554'")[0]
        assert deaths == int(source[source.etype == 2].status.sum())
        fu = one(store.con, "SELECT count(*) FROM treatments WHERE agent = 'ATC:L01BC02'")[0]
        assert fu == (source[source.etype == 2].rx == "Lev+5FU").sum()


def test_raw_identifiers_are_never_stored(node):
    load(node, "rotterdam")
    raw = set(pd.read_csv(DATA / "rotterdam/rotterdam.csv").pid.astype(str))
    with node.store() as store:
        ids = [r[0] for r in store.con.execute("SELECT id FROM individuals").fetchall()]
        referenced = {r[0] for r in store.con.execute("SELECT individual_id FROM outcomes").fetchall()}
    assert not raw & set(ids) and not raw & referenced
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    assert node.pseudonyms.one("rotterdam", "1") in ids


def test_reingesting_the_same_file_creates_nothing_new(node, cli):
    load(node, "gbsg2")
    before = sha256(node.store_path)
    again = load(node, "gbsg2")
    assert not again.created and again.version == 1
    with node.store() as store:
        assert len(store.versions("gbsg2")) == 1
    assert sha256(node.store_path) == before


def test_a_row_filter_takes_part_of_a_file(node):
    result = load(node, "ncctg-lung", where="TRY_CAST(inst AS DOUBLE) BETWEEN 10 AND 13")
    source = pd.read_csv(DATA / "ncctg-lung/lung.csv")
    assert result.counts["individuals"] == source.inst.between(10, 13).sum()


def test_units_convert_to_days_and_years(node, tmp_path):
    (tmp_path / "t.csv").write_text("pid,fu_months,age_months\np1,12,600\n")
    (tmp_path / "m.yaml").write_text(
        "individuals:\n  id: {column: pid}\n  followup_days: {column: fu_months, unit: mo}\n"
        "diseases:\n  - code: {value: 'NCIT:C4872'}\n    age_at_diagnosis: {column: age_months, unit: mo}\n")
    ingest(node, "ds", "csv", [tmp_path / "t.csv"], mapping=tmp_path / "m.yaml")
    with node.store() as store:
        assert one(store.con, "SELECT followup_days FROM individuals")[0] == pytest.approx(365.25)
        assert one(store.con, "SELECT age_at_diagnosis FROM diseases")[0] == pytest.approx(50.0)


def test_tsv_and_gzip_read_like_csv(node, tmp_path):
    (tmp_path / "t.tsv.gz").write_bytes(gzip.compress(b"pid\tsex\np1\tF\np2\tM\n"))
    (tmp_path / "m.yaml").write_text(
        "individuals:\n  id: {column: pid}\n  sex: {column: sex, map: {F: 'NCIT:C16576', M: 'NCIT:C20197'}}\n")
    result = ingest(node, "ds", "tsv", [tmp_path / "t.tsv.gz"], mapping=tmp_path / "m.yaml")
    assert result.counts["individuals"] == 2


def test_the_cli_ingests_and_shows_versions_and_hashes(node, cli):
    with node.store() as store:
        store.add_dataset("lung", "NCCTG lung")
    args = ["node", "ingest", node.path, DATA / "ncctg-lung/lung.csv", "--dataset", "lung", "--format", "csv",
            "--mapping", DATA / "ncctg-lung/mapping.yaml"]
    assert "version 1" in cli(*args).output
    assert "unchanged" in cli(*args).output
    shown = json.loads(cli("node", "show", node.path, "lung", "--json").stdout)
    assert shown["counts"]["individuals"] == 228
    assert [v["version"] for v in shown["versions"]] == [1]
    assert shown["versions"][0]["sources"][0]["sha256"] == sha256(DATA / "ncctg-lung/lung.csv")
    listed = json.loads(cli("node", "datasets", node.path, "--json").stdout)
    assert {d["id"]: d["individuals"] for d in listed} == {"ds": 0, "lung": 228}


def test_a_dry_run_says_what_an_ingest_would_change_and_writes_nothing(node, cli):
    with node.store() as store:
        store.add_dataset("lung", "NCCTG lung")
    args = ["node", "ingest", node.path, DATA / "ncctg-lung/lung.csv", "--dataset", "lung", "--format", "csv",
            "--mapping", DATA / "ncctg-lung/mapping.yaml"]
    before = sha256(node.store_path)
    dry = json.loads(cli(*args, "--dry-run", "--json").stdout)
    assert sha256(node.store_path) == before
    assert (dry["dry_run"], dry["created"], dry["version"]) == (True, True, 1)
    assert dry["before"]["individuals"] == 0 and dry["counts"]["individuals"] == 228
    assert "would become version 1" in cli(*args, "--dry-run").output
    done = json.loads(cli(*args, "--json").stdout)
    assert (done["content_hash"], done["counts"]) == (dry["content_hash"], dry["counts"])
    again = cli(*args, "--dry-run").output
    assert "would be unchanged" in again and "nothing was written" in again
    refused = cli("node", "ingest", node.path, DATA / "gbsg2/gbsg2.csv", "--dataset", "lung", "--format", "csv",
                  "--mapping", DATA / "ncctg-lung/mapping.yaml", "--dry-run", ok=False)
    assert refused.exit_code == 1  # the same checks as a real ingest


# broken inputs ----------------------------------------------------------------------------

MAPPING = """\
individuals:
  id: {column: pid}
  sex: {column: sex, map: {F: "NCIT:C16576", M: "NCIT:C20197"}}
  year_of_birth: {column: born}
diseases:
  - code: {value: "NCIT:C4872"}
    age_at_diagnosis: {column: age}
"""
GOOD = "pid,sex,born,age\np1,F,1950,61\np2,M,1948,70\n"

BROKEN = {
    # name: (csv text or bytes, mapping text, fragments the message must hold)
    "extra field": ("pid,sex,born,age\np1,F,1950,61\np2,M,1948,70,9\n", MAPPING,
                    ["t.csv", "line 3", "expected 4 fields", "5 fields"]),
    "missing field": ("pid,sex,born,age\np1,F,1950\n", MAPPING, ["t.csv", "line 2", "expected 4 fields"]),
    "unmapped value": ("pid,sex,born,age\np1,F,1950,61\np2,X,1948,70\n", MAPPING,
                       ["t.csv", "line 3", "field 'sex'", "one of 'F', 'M'", "got 'X'"]),
    "not a number": ("pid,sex,born,age\np1,F,1950,61\n\np2,M,1948,seventy\n", MAPPING,
                     ["t.csv", "line 4", "field 'age'", "expected a number", "got 'seventy'"]),
    "not a whole number": ("pid,sex,born,age\np1,F,1950.5,61\n", MAPPING,
                           ["line 2", "field 'born'", "a whole number"]),
    "negative age": ("pid,sex,born,age\np1,F,1950,-3\n", MAPPING, ["line 2", "field 'age'", "0 or more"]),
    "missing id": ("pid,sex,born,age\np1,F,1950,61\n,M,1948,70\n", MAPPING,
                   ["line 3", "field 'pid'", "expected a value"]),
    "conflicting rows of one individual": ("pid,sex,born,age\np1,F,1950,61\np1,M,1950,61\n", MAPPING,
                                           ["t.csv", "line 2", "disagree on individuals.sex", "lines 2, 3"]),
    "empty file": ("", MAPPING, ["t.csv", "line 1", "empty"]),
    "header only": ("pid,sex,born,age\n", MAPPING, ["t.csv", "no rows"]),
    "duplicate column": ("pid,sex,sex,age\np1,F,F,61\n", MAPPING, ["t.csv", "line 1", "'sex' appears twice"]),
    "truncated gzip": (gzip.compress(("pid,sex,born,age\n" + "".join(f"p{i},F,1950,{i % 90}\n" for i in range(5000))
                                      ).encode())[:4000], MAPPING, ["t.csv.gz", "truncated"]),
    "unknown column in mapping": (GOOD, MAPPING.replace("column: born", "column: birth"),
                                  ["m.yaml", "individuals.year_of_birth", "no column 'birth'", "born"]),
    "unknown field in mapping": (GOOD, MAPPING + "    stadium: {value: x}\n",
                                 ["m.yaml", "diseases[0].stadium", "no field"]),
    "bad YAML": (GOOD, "individuals: {id: [\n", ["m.yaml", "not valid YAML"]),
    "mapping without id": (GOOD, "individuals:\n  sex: {value: 'NCIT:C16576'}\n", ["m.yaml", "individuals.id"]),
    "two sources for a field": (GOOD, MAPPING.replace("{column: born}", "{column: born, value: 1}"),
                                ["m.yaml", "individuals.year_of_birth", "exactly one of"]),
    "unknown unit": (GOOD, MAPPING.replace("{column: age}", "{column: age, unit: fortnight}"),
                     ["m.yaml", "unknown unit 'fortnight'"]),
    "bad SQL in a condition": (GOOD, MAPPING.replace("  - code:", "  - when: \"nonsense ==\"\n    code:"),
                               ["m.yaml", "diseases[0]", "SQL"]),
    "a code that is not a CURIE": (GOOD, MAPPING.replace('"NCIT:C4872"', "breast cancer"),
                                   ["field 'diseases[0].code'", "CURIE", "got 'breast cancer'"]),
    "required field missing": (GOOD, MAPPING + "outcomes:\n  - days: {column: age}\n",
                               ["m.yaml", "outcomes[0] needs endpoint, event"]),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_input_is_refused_with_where_and_what_and_leaves_the_store_alone(node, tmp_path, cli, case):
    text, mapping, fragments = BROKEN[case]
    good = ingest(node, "ds", "csv", [_write(tmp_path / "good.csv", GOOD)], mapping=_write(tmp_path / "g.yaml", MAPPING))
    assert good.created
    name = "t.csv.gz" if isinstance(text, bytes) else "t.csv"
    data, m = _write(tmp_path / name, text), _write(tmp_path / "m.yaml", mapping)
    before = sha256(node.store_path)
    result = cli("node", "ingest", node.path, data, "--dataset", "ds", "--format", "csv", "--mapping", m, ok=False)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert sha256(node.store_path) == before


def test_an_unknown_dataset_is_refused_before_reading(node, tmp_path, cli):
    before = sha256(node.store_path)
    result = cli("node", "ingest", node.path, _write(tmp_path / "t.csv", GOOD), "--dataset", "nope", "--format",
                 "csv", "--mapping", _write(tmp_path / "m.yaml", MAPPING), ok=False)
    assert result.exit_code == 1 and "unknown dataset 'nope'" in result.output and "known datasets: ds" in result.output
    assert sha256(node.store_path) == before


def test_a_mapping_is_required_and_a_format_must_be_known(node, tmp_path):
    with pytest.raises(IngestError, match="needs a mapping"):
        ingest(node, "ds", "csv", [_write(tmp_path / "t.csv", GOOD)])
    with pytest.raises(IngestError, match="unknown format 'xls'"):
        ingest(node, "ds", "xls", [tmp_path / "t.csv"])


def test_line_numbers_count_blank_lines(tmp_path, node):
    text = "pid,sex,born,age\n\np1,F,1950,61\n\n\np2,Q,1950,61\n"
    with pytest.raises(IngestError) as e:
        ingest(node, "ds", "csv", [_write(tmp_path / "t.csv", text)], mapping=_write(tmp_path / "m.yaml", MAPPING))
    assert e.value.line == 6


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_every_code_in_the_demo_mappings_is_a_verified_or_declared_term():
    import re

    from oncofed.model import vocabulary

    for mapping in DATA.glob("*/mapping.yaml"):
        codes = set(re.findall(r'"((?:NCIT|LOINC|ATC|SNOMEDCT|ONCOFED):[^"]+)"', mapping.read_text()))
        assert codes, mapping
        assert not {c for c in codes if vocabulary.label(c) is None}, mapping
