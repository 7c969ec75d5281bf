"""Region-level exposures on LeukSurv: the district table linked to patients by their district,
exposure variables as filters and covariates, and bad tables refused with the store unchanged."""

import pandas as pd
import pytest

from conftest import DATA, sha256
from oncofed.analysis import run
from oncofed.analysis.cohort import select
from oncofed.errors import IngestError
from oncofed.ingest.pipeline import ingest

LEUK = DATA / "leuksurv"
TABLE, MAPPING, DISTRICTS = LEUK / "leuksurv.csv", LEUK / "mapping.yaml", LEUK / "district-townsend.csv"
MEAN, OWN = "exposure:ONCOFED:townsend_score_district_mean", "exposure:ONCOFED:townsend_score"


def leuksurv(node):
    ingest(node, "ds", "csv", [TABLE], mapping=MAPPING)
    return ingest(node, "ds", "exposures", [DISTRICTS], region_column="district", region_coding="leuksurv-district")


def frame(node, names, cohort=None):
    with node.store(read_only=True) as store:
        return select(store.con, "n", cohort).frame(names)


def test_the_district_table_is_derived_from_leuksurv_as_sources_md_says():
    patients = pd.read_csv(TABLE, float_precision="round_trip")
    derived = patients.groupby("fac_district").num_tpi.mean().round(4)
    shipped = pd.read_csv(DISTRICTS).set_index("district").value
    assert (shipped.index == derived.index).all() and (shipped.values == derived.values).all()


def test_region_rows_are_stored_without_individuals(node):
    result = leuksurv(node)
    assert result.counts["exposures"] == 1043 + 24  # each patient's own score, and one row a district
    with node.store() as store:
        rows = store.con.execute("SELECT count(*), count(individual_id), count(DISTINCT region), "
                                 "any_value(region_coding) FROM exposures WHERE code = ?",
                                 ["ONCOFED:townsend_score_district_mean"]).fetchall()
    assert rows == [(24, 0, 24, "leuksurv-district")]


def test_exposure_variables_resolve_through_the_region_or_the_individual(node):
    leuksurv(node)
    df = frame(node, ["region", MEAN, OWN, "age"])
    patients = pd.read_csv(TABLE, float_precision="round_trip").sort_values(["fac_district", "num_age", "num_tpi"])
    means = pd.read_csv(DISTRICTS).set_index("district").value
    expected = df.region.astype(int).map(means)
    assert df[MEAN].tolist() == expected.tolist()  # the district's value, through the region code
    assert sorted(df[OWN]) == sorted(patients.num_tpi)  # the patient's own row
    assert df[MEAN].notna().all()


def test_exposures_filter_cohorts(node):
    leuksurv(node)
    cohort = {"filters": [{"variable": MEAN, "op": ">", "value": 2.0}]}
    with node.store(read_only=True) as store:
        n = run.run("count", {}, cohort, {"n": store.con})["count"]
    means = pd.read_csv(DISTRICTS).set_index("district").value
    patients = pd.read_csv(TABLE, float_precision="round_trip")
    assert n == int((patients.fac_district.map(means) > 2.0).sum())


def test_an_individual_in_a_region_without_a_row_has_no_value(node, tmp_path):
    ingest(node, "ds", "csv", [TABLE], mapping=MAPPING)
    partial = tmp_path / "one.csv"
    partial.write_text("district,code,value\n7,ONCOFED:townsend_score_district_mean,1.5\n")
    ingest(node, "ds", "exposures", [partial], region_column="district", region_coding="leuksurv-district")
    df = frame(node, ["region", MEAN])
    assert set(df[df.region == "7"][MEAN]) == {1.5} and df[df.region != "7"][MEAN].isna().all()


def test_a_different_coding_does_not_link(node, tmp_path):
    ingest(node, "ds", "csv", [TABLE], mapping=MAPPING)
    ingest(node, "ds", "exposures", [DISTRICTS], region_column="district", region_coding="NUTS")
    assert frame(node, [MEAN])[MEAN].isna().all()


@pytest.mark.parametrize("text, field", [
    ("district,code,value\n1,townsend,1.0\n", "code"),
    ("district,code,value\n1,ONCOFED:x,high\n", "value"),
    ("district,code,value,year\n1,ONCOFED:x,1.0,2011.5\n", "year"),
    ("district,code\n1,ONCOFED:x\n", None),
    ("area,code,value\n1,ONCOFED:x,1\n", None),
    ("district,code,value\n1,ONCOFED:x,1\n1,ONCOFED:x,2\n", "district"),
    ("district,code,value\n,ONCOFED:x,1\n", "district"),
])
def test_a_bad_table_is_refused_and_the_store_is_unchanged(node, tmp_path, text, field):
    ingest(node, "ds", "csv", [TABLE], mapping=MAPPING)
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    before = sha256(node.store_path)
    with pytest.raises(IngestError) as e:
        ingest(node, "ds", "exposures", [bad], region_column="district", region_coding="leuksurv-district")
    assert e.value.file == str(bad)
    if field:
        assert e.value.field == field
    assert sha256(node.store_path) == before


def test_region_column_and_coding_are_required(node):
    with pytest.raises(IngestError, match="column of its region codes"):
        ingest(node, "ds", "exposures", [DISTRICTS], region_coding="x")
    with pytest.raises(IngestError, match="coding"):
        ingest(node, "ds", "exposures", [DISTRICTS], region_column="district")


def test_the_command_line_ingests_exposures(cli, node):
    cli("node", "ingest", node.path, TABLE, "--dataset", "ds", "--format", "csv", "--mapping", MAPPING)
    done = cli("node", "ingest", node.path, DISTRICTS, "--dataset", "ds", "--format", "exposures",
               "--region-column", "district", "--coding", "leuksurv-district")
    assert "version 2" in done.output
