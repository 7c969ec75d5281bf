"""The variable catalogue reads the node store as the source data says (checked against the
demo CSV files themselves, not against the store)."""

import numpy as np
import pandas as pd
import pytest
import yaml

from demo_nodes import pooled, stores  # noqa: F401 (fixtures)
from oncofed.demo import DATA
from oncofed.analysis import variables
from oncofed.analysis.base import AnalysisError
from oncofed.analysis.cohort import select
from oncofed.ingest.pipeline import ingest


def csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name)


def test_unknown_variable_names_it_and_lists_the_known_ones():
    with pytest.raises(AnalysisError) as e:
        variables.resolve("agee")
    assert "'agee'" in str(e.value)
    assert "age" in str(e.value) and "measurement:<code>" in str(e.value)


def test_a_family_without_a_code_is_unknown():
    with pytest.raises(AnalysisError, match="unknown variable 'measurement:'"):
        variables.resolve("measurement:")


def test_catalogue_lists_fixed_variables_and_families():
    names = {v["name"]: v["kind"] for v in variables.catalogue()}
    assert names["age"] == "numeric" and names["sex"] == "categorical"
    assert names["treated:<code>"] == "numeric" and names["marker:<code>"] == "categorical"


def test_overall_survival_is_the_lung_trials_time_and_status(pooled):
    rows = pooled(["os_days", "os_event", "age"], {"datasets": ["ncctg-lung"]})
    lung = csv("ncctg-lung/lung.csv")
    assert sorted(rows["os_days"]) == sorted(lung["time"].astype(float))
    assert rows["os_event"].sum() == lung["status"].sum()
    assert rows["age"].sum() == lung["age"].sum()


def test_overall_survival_falls_back_on_follow_up_and_vital_status(node, tmp_path):
    mapping = yaml.safe_load((DATA / "ncctg-lung/mapping.yaml").read_text())
    del mapping["outcomes"]  # only follow-up and vital status remain
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    ingest(node, "ds", "csv", [DATA / "ncctg-lung/lung.csv"], mapping=tmp_path / "mapping.yaml")
    lung = csv("ncctg-lung/lung.csv")
    with node.store(read_only=True) as store:
        rows = select(store.con, "n", None).frame(["os_days", "os_event"])
    assert sorted(rows["os_days"]) == sorted(lung["time"].astype(float))
    assert rows["os_event"].sum() == lung["status"].sum()


def test_individuals_without_survival_data_have_none(pooled):
    rows = pooled(["os_days", "os_event"], {"datasets": ["gbsg2"]})
    assert len(rows) == 686 and rows["os_days"].isna().all() and rows["os_event"].isna().all()


def test_endpoint_variables_read_any_outcome(pooled):
    rows = pooled(["days:ONCOFED:recurrence_free_survival", "event:ONCOFED:recurrence_free_survival"],
                  {"datasets": ["gbsg2"]})
    gbsg2 = csv("gbsg2/gbsg2.csv")
    assert sorted(rows["days:ONCOFED:recurrence_free_survival"]) == sorted(gbsg2["time"].astype(float))
    assert rows["event:ONCOFED:recurrence_free_survival"].sum() == gbsg2["cens"].sum()


def test_treated_matches_types_their_subtypes_and_atc_prefixes(pooled):
    rows = pooled(["treated:NCIT:C15445", "treated:ATC:L02", "treated:ATC:L02BA01", "dataset"])
    rotterdam, gbsg2 = csv("rotterdam/rotterdam.csv"), csv("gbsg2/gbsg2.csv")
    by = rows.groupby("dataset")[["treated:NCIT:C15445", "treated:ATC:L02", "treated:ATC:L02BA01"]].sum()
    assert by.loc["rotterdam", "treated:NCIT:C15445"] == rotterdam["hormon"].sum()
    assert by.loc["gbsg2", "treated:NCIT:C15445"] == (gbsg2["horTh"] == "yes").sum()
    assert by.loc["gbsg2", "treated:ATC:L02"] == by.loc["gbsg2", "treated:ATC:L02BA01"] == (gbsg2["horTh"] == "yes").sum()
    assert by.loc["rotterdam", "treated:ATC:L02"] == 0  # rotterdam records no agent
    assert set(rows["treated:ATC:L02"].unique()) <= {0.0, 1.0}


def test_measurements_and_markers_are_the_first_value_per_individual(pooled):
    rows = pooled(["measurement:LOINC:21893-3", "marker:LOINC:21889-1", "marker:SNOMEDCT:161712005"],
                  {"datasets": ["rotterdam"]})
    rotterdam = csv("rotterdam/rotterdam.csv")
    assert rows["measurement:LOINC:21893-3"].sum() == rotterdam["nodes"].sum()
    sizes = rows["marker:LOINC:21889-1"].value_counts()
    assert sizes["<= 20 mm"] == (rotterdam["size"] == "<=20").sum()
    assert sizes["> 50 mm"] == (rotterdam["size"] == ">50").sum()
    assert (rows["marker:SNOMEDCT:161712005"] == "SNOMEDCT:307429007").sum() == rotterdam["meno"].sum()


def test_categorical_values_are_codes_and_numbers_are_floats(stores):
    rows = select(stores["demo-fr"], "demo-fr", None).frame(["grade", "sex", "age"])
    assert isinstance(rows["grade"].dtype, pd.CategoricalDtype) and rows["age"].dtype == np.float64
    colon = csv("colon/colon.csv").query("etype == 2")
    assert rows["grade"].isna().sum() == 68 + colon["differ"].isna().sum()  # lung patients have no grade
    assert list(rows["grade"].cat.categories) == ["NCIT:C28077", "NCIT:C28078", "NCIT:C28079"]
