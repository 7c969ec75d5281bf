"""Cohorts: filters compile to parameterised SQL, widen codes to their descendants, and
refuse what they cannot mean."""

import pandas as pd
import pytest
from demo_nodes import pooled, stores  # noqa: F401 (fixtures)

from oncofed.analysis.base import AnalysisError
from oncofed.analysis.cohort import check, parse_cohort, select
from oncofed.demo import DATA


def records(stores, cohort) -> dict[str, int]:
    return {node: select(con, node, cohort).records for node, con in stores.items()}


def by_dataset(pooled, cohort) -> dict[str, int]:
    return pooled(["dataset"], cohort)["dataset"].value_counts().to_dict()


def test_descendant_of_breast_carcinoma_selects_gbsg2_and_rotterdam(pooled):
    cohort = {"filters": [{"variable": "diagnosis", "op": "descendant_of", "value": "NCIT:C4872"}]}
    assert by_dataset(pooled, cohort) == {"gbsg2": 686, "rotterdam": 2982}


def test_descendant_of_carcinoma_selects_every_cohort(pooled):
    cohort = {"filters": [{"variable": "diagnosis", "op": "descendant_of", "value": "NCIT:C2916"}]}
    assert by_dataset(pooled, cohort) == {"gbsg2": 686, "rotterdam": 2982, "colon": 929, "ncctg-lung": 228}


def test_equality_matches_only_the_code_itself(pooled):
    cohort = {"filters": [{"variable": "diagnosis", "op": "=", "value": "NCIT:C2916"}]}
    assert by_dataset(pooled, cohort) == {}


@pytest.mark.parametrize("value", ["x' OR 1=1 --", "NCIT:C4872' OR '1'='1", "'); DROP TABLE individuals; --"])
def test_filter_values_cannot_inject_sql(stores, value):
    for op, v in (("=", value), ("in", [value]), ("descendant_of", value)):
        assert sum(records(stores, {"filters": [{"variable": "diagnosis", "op": op, "value": v}]}).values()) == 0
    assert sum(records(stores, {"datasets": [value]}).values()) == 0
    rows = select(stores["demo-nl"], "demo-nl", None).frame([f"measurement:{value}"])
    assert len(rows) == 3048 and rows.iloc[:, 0].isna().all()  # rotterdam 2,982, lung 65, hcc1187 1


def test_numeric_filters_select_as_pandas_does_on_the_source(pooled):
    lung = pd.read_csv(DATA / "ncctg-lung/lung.csv")
    cohort = {"datasets": ["ncctg-lung"], "filters": [{"variable": "age", "op": ">=", "value": 65},
                                                      {"variable": "sex", "op": "=", "value": "NCIT:C16576"}]}
    assert len(pooled(["age"], cohort)) == ((lung.age >= 65) & (lung.sex == 2)).sum()
    cohort = {"datasets": ["ncctg-lung"], "filters": [{"variable": "measurement:LOINC:89247-1", "op": "in",
                                                       "value": [0, 1]}]}
    assert len(pooled(["age"], cohort)) == lung["ph.ecog"].isin([0, 1]).sum()


def test_missing_values_match_no_comparison_but_is_null(pooled):
    lung = pd.read_csv(DATA / "ncctg-lung/lung.csv")
    ecog = "measurement:LOINC:89247-1"

    def n(op, value=None):
        return len(pooled(["age"], {"datasets": ["ncctg-lung"], "filters": [{"variable": ecog, "op": op, "value": value}]}))

    assert n("is_null") == lung["ph.ecog"].isna().sum() == 1
    assert n("not_null") == 227
    assert n("!=", 1) + n("=", 1) == 227
    assert n("not_in", [1]) + n("in", [1]) == 227


def test_datasets_restrict_the_cohort(stores):
    assert records(stores, {"datasets": ["ncctg-lung"]}) == {"demo-de": 95, "demo-nl": 65, "demo-fr": 68}
    assert records(stores, {"datasets": []}) == {"demo-de": 0, "demo-nl": 0, "demo-fr": 0}


def test_ids_are_the_sorted_keys_of_the_cohort(stores):
    cohort = select(stores["demo-de"], "demo-de", {"datasets": ["ncctg-lung"]})
    assert len(cohort.ids) == cohort.records == 95
    assert cohort.ids == sorted(cohort.ids) and all(i.startswith("ncctg-lung:") for i in cohort.ids)


def test_a_cohorts_fingerprint_names_its_definition_and_data(stores):
    con = stores["demo-de"]
    a = select(con, "demo-de", {"datasets": ["gbsg2"]}).fingerprint
    assert a == select(con, "demo-de", {"datasets": ["gbsg2"]}).fingerprint
    assert a != select(con, "demo-de", {"datasets": ["ncctg-lung"]}).fingerprint
    assert a != select(con, "other-node", {"datasets": ["gbsg2"]}).fingerprint


@pytest.mark.parametrize("cohort, message", [
    ({"filters": [{"variable": "age", "op": "like", "value": 1}]}, "filters.0.op"),
    ({"filters": [{"variable": "age", "value": 1}]}, "filters.0.op"),
    ({"filters": [{"variable": "age", "op": ">", "value": 1, "extra": 2}]}, "filters.0.extra"),
    ({"filters": "age > 1"}, "filters"),
    ({"datasets": "gbsg2"}, "datasets"),
    ({"filters": [{"variable": "agee", "op": ">", "value": 1}]}, "unknown variable 'agee'"),
    ({"filters": [{"variable": "age", "op": ">", "value": "60"}]}, "expected a number"),
    ({"filters": [{"variable": "age", "op": ">", "value": True}]}, "expected a number"),
    ({"filters": [{"variable": "sex", "op": "=", "value": 1}]}, "expected a code"),
    ({"filters": [{"variable": "sex", "op": "<", "value": "NCIT:C16576"}]}, "needs a numeric variable"),
    ({"filters": [{"variable": "age", "op": "descendant_of", "value": "NCIT:C2916"}]}, "needs a coded variable"),
    ({"filters": [{"variable": "age", "op": "in", "value": []}]}, "non-empty list"),
    ({"filters": [{"variable": "age", "op": "in", "value": 60}]}, "non-empty list"),
    ({"filters": [{"variable": "age", "op": "is_null", "value": 1}]}, "takes no value"),
])
def test_malformed_cohorts_are_analysis_errors(stores, cohort, message):
    with pytest.raises(AnalysisError, match=message):
        select(stores["demo-de"], "demo-de", cohort)


def test_the_hub_can_check_a_cohort_before_sending_it():
    check(parse_cohort({"filters": [{"variable": "age", "op": ">", "value": 60}]}))
    with pytest.raises(AnalysisError, match="unknown variable"):
        check(parse_cohort({"filters": [{"variable": "agee", "op": ">", "value": 60}]}))
