"""Federated Kaplan–Meier equals lifelines' KaplanMeierFitter on the pooled rows with the
durations put onto the same grid (survival and confidence interval to 1e-9), and the
log-rank test equals lifelines' on the same gridded data."""

import numpy as np
import pandas as pd
import pytest
from demo_nodes import pooled, stores  # noqa: F401 (fixtures)
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test

from oncofed.analysis import km, tables
from oncofed.analysis.base import AnalysisError
from oncofed.analysis.cohort import select
from oncofed.analysis.run import run
from oncofed.privacy.policy import GuardPolicy

LUNG = {"datasets": ["ncctg-lung"]}
max_difference = {}


def gridded(rows: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Durations rounded up to the end of their interval, follow-up cut at the last cut."""
    p = km.KMParams(**params)
    time, event = rows["os_days"].to_numpy(), rows["os_event"].to_numpy()
    if p.end is not None:
        event = np.where(time > p.end, 0, event)
        time = np.minimum(time, p.end)
    return rows.assign(T=km.end_time(km.interval_index(time, p) + 1, p), E=event)


def check_curve(ours: pd.DataFrame, rows: pd.DataFrame, what: str):
    kmf = KaplanMeierFitter().fit(rows["T"], rows["E"])
    assert list(ours["timeline"]) == list(kmf.survival_function_.index)
    ci = kmf.confidence_interval_.to_numpy()
    for column, theirs in (("survival", kmf.survival_function_.iloc[:, 0]), ("ci_lower", ci[:, 0]),
                           ("ci_upper", ci[:, 1])):
        difference = np.max(np.abs(ours[column].to_numpy() - np.asarray(theirs)))
        max_difference[f"{what} {column}"] = max(max_difference.get(f"{what} {column}", 0), difference)
        assert difference < 1e-9, f"{what} {column}: {difference:.1e}"
    at_risk = kmf.event_table["at_risk"].to_numpy()
    assert list(ours["at_risk"]) == list(at_risk)
    return kmf


@pytest.mark.parametrize("params", [{"interval": 30}, {"interval": 7}, {"interval": 90, "horizon": 700},
                                    {"cuts": [90, 180, 365, 730, 1825]}])
def test_survival_and_ci_equal_lifelines_on_the_grid(stores, pooled, params):
    result = run("km", params, LUNG, stores)
    ours = tables.to_frame(result["summary"])
    rows = gridded(pooled(["os_days", "os_event"], LUNG).dropna(), params)
    kmf = check_curve(ours, rows, "lung")
    theirs_median = kmf.median_survival_time_
    assert result["median"] == (None if np.isinf(theirs_median) else theirs_median)


def test_each_group_has_its_curve_and_the_logrank_test_equals_lifelines(stores, pooled):
    params = {"interval": 30, "group": "sex"}
    result = run("km", params, LUNG, stores)
    ours = tables.to_frame(result["summary"])
    rows = gridded(pooled(["os_days", "os_event", "sex"], LUNG).dropna(), params)
    for sex, part in rows.groupby("sex", observed=True):
        kmf = check_curve(ours[ours["group"] == sex], part, f"lung {sex}")
        assert result["median"][sex] == kmf.median_survival_time_
    male, female = rows[rows["sex"] == "NCIT:C20197"], rows[rows["sex"] == "NCIT:C16576"]
    theirs = logrank_test(male["T"], female["T"], male["E"], female["E"])
    assert result["logrank"]["test_statistic"] == pytest.approx(theirs.test_statistic, rel=1e-10)
    assert result["logrank"]["p"] == pytest.approx(theirs.p_value, rel=1e-8)
    max_difference["logrank 2 groups (relative)"] = abs(result["logrank"]["test_statistic"] / theirs.test_statistic - 1)


def test_logrank_across_several_groups_equals_lifelines(stores, pooled):
    params = {"interval": 60, "group": "dataset"}
    result = run("km", params, None, stores)
    rows = gridded(pooled(["os_days", "os_event", "dataset"]).dropna(), params)
    theirs = multivariate_logrank_test(rows["T"], rows["dataset"], rows["E"])
    assert result["logrank"]["df"] == 2 and result["logrank"]["groups"] == ["colon", "ncctg-lung", "rotterdam"]
    assert result["logrank"]["test_statistic"] == pytest.approx(theirs.test_statistic, rel=1e-10)
    max_difference["logrank 3 groups (relative)"] = abs(result["logrank"]["test_statistic"] / theirs.test_statistic - 1)


def test_a_numeric_group_is_labelled_by_its_value(stores):
    result = run("km", {"interval": 365, "group": "treated:NCIT:C15632"}, {"datasets": ["colon"]}, stores)
    assert sorted(result["median"]) == ["0", "1"]


def test_small_counts_merge_intervals_and_no_node_releases_one(stores):
    policy = GuardPolicy()
    params = km.validate({"interval": 30})
    result = run("km", params, None, stores, policy=policy)
    assert any("merged" in note for note in result["notes"])
    curve = tables.to_frame(result["summary"])
    steps = curve["timeline"].diff().dropna()
    assert (curve["timeline"] % 30 == 0).all() and len(curve) > 20 and steps.min() < steps.max()  # merged where sparse
    for node, con in stores.items():
        partial = km.node_step(select(con, node, None, policy), params, {})
        assert partial.cells and min(partial.cells.values()) >= policy.min_cell


def test_a_node_whose_counts_no_grid_can_release_is_left_out(stores):
    # demo-fr's lung patients include fewer than 10 censored men: no interval width helps
    result = run("km", {"interval": 30, "group": "sex"}, LUNG, stores, policy=GuardPolicy(min_cell=10))
    assert [note for note in result["notes"] if "left out" in note][0].startswith("demo-fr left out")
    assert sorted(result["nodes"]) == ["demo-de", "demo-nl"]


def test_a_cohort_without_the_endpoint_names_it_and_how_to_ask_for_another(stores):
    # GBSG-2 records recurrence-free survival, not overall survival
    with pytest.raises(AnalysisError, match="has both 'os_days' and 'os_event'.*days:<endpoint CURIE>"):
        run("km", {"interval": 30}, {"datasets": ["gbsg2"]}, stores)
    rfs = run("km", {"interval": 30, "duration": "days:ONCOFED:recurrence_free_survival",
                     "event": "event:ONCOFED:recurrence_free_survival"}, {"datasets": ["gbsg2"]}, stores)
    assert rfs["summary"]["data"]


def test_cuts_must_increase(stores):
    with pytest.raises(AnalysisError, match="cuts must be increasing"):
        run("km", {"cuts": [30, 10]}, LUNG, stores)
    with pytest.raises(AnalysisError, match="not both"):
        run("km", {"cuts": [30], "interval": 10}, LUNG, stores)


def test_report_largest_differences():
    print("\nkm max differences:", {k: f"{v:.1e}" for k, v in max_difference.items()})
