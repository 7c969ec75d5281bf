"""Federated Cox equals the pooled Cox with strata=node: lifelines (Efron) and statsmodels
PHReg (Breslow and Efron), to 1e-6 relative on coefficients and standard errors.

lifelines and statsmodels are fitted with tightened convergence: at their defaults they stop
up to ~1e-7 from the optimum (lifelines leaves its last Newton step unapplied), which is their
error, not ours.
"""

import numpy as np
import pandas as pd
import pytest
from demo_nodes import dummy_coded, pooled, stores  # noqa: F401 (fixtures)
from lifelines import CoxPHFitter
from statsmodels.duration.hazard_regression import PHReg

from oncofed.analysis import tables
from oncofed.analysis.base import AnalysisError
from oncofed.analysis.run import run

LUNG = {"datasets": ["ncctg-lung"]}
LUNG_COVARIATES = ["age", "sex", "measurement:LOINC:89247-1", "measurement:LOINC:89243-0",
                   "measurement:ONCOFED:weight_loss_6_months"]
TIGHT = {"precision": 1e-12, "r_precision": 0}
max_relative = {}  # the largest differences seen, reported at the end of the module


def reference_rows(pooled, covariates, cohort, strata=()):
    rows = pooled(["os_days", "os_event", *covariates, *strata], cohort).dropna()
    return pd.concat([rows.drop(columns=covariates), dummy_coded(rows, covariates)], axis=1)


def close(ours, theirs, what, rtol=1e-6):
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    relative = np.max(np.abs(ours - theirs) / np.abs(theirs))
    max_relative[what] = max(max_relative.get(what, 0), relative)
    assert relative < rtol, f"{what}: relative difference {relative:.2e}"


def fed(stores, covariates, cohort, **params):
    result = run("cox", {"covariates": covariates, **params}, cohort, stores)
    return result, tables.to_frame(result["summary"])


@pytest.mark.parametrize("covariates, cohort, strata", [
    (LUNG_COVARIATES, LUNG, []),
    (["age", "sex", "grade", "treated:NCIT:C15632"], None, ["dataset"]),
])
def test_efron_equals_lifelines_with_strata_node(stores, pooled, covariates, cohort, strata):
    result, ours = fed(stores, covariates, cohort, strata=strata)
    rows = reference_rows(pooled, covariates, cohort, strata)
    cph = CoxPHFitter().fit(rows, "os_days", "os_event", strata=["node", *strata], fit_options=TIGHT)
    theirs = cph.summary.loc[ours.index]
    assert list(ours.columns) == list(cph.summary.columns)
    close(ours["coef"], theirs["coef"], "efron coef vs lifelines")
    close(ours["se(coef)"], theirs["se(coef)"], "efron se vs lifelines")
    close(ours[["z", "p", "coef lower 95%", "exp(coef) upper 95%"]], theirs[["z", "p", "coef lower 95%",
                                                                          "exp(coef) upper 95%"]], "efron z, p, CI")
    assert result["log_likelihood"] == pytest.approx(cph.log_likelihood_, rel=1e-10)
    test = cph.log_likelihood_ratio_test()
    assert result["log_likelihood_ratio_test"]["statistic"] == pytest.approx(test.test_statistic, rel=1e-8)
    assert result["n"] == len(rows) and result["events"] == rows["os_event"].sum()


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_ties_equal_statsmodels_phreg(stores, pooled, ties):
    covariates = ["age", "sex", "grade"]
    result, ours = fed(stores, covariates, None, ties=ties, strata=["dataset"])
    rows = reference_rows(pooled, covariates, None, ["dataset"])
    x = rows[ours.index].to_numpy()
    model = PHReg(rows["os_days"].to_numpy(), x, status=rows["os_event"].to_numpy(),
                  strata=(rows["node"] + "/" + rows["dataset"]).to_numpy(), ties=ties)
    fit = model.fit(tol=1e-12)
    close(ours["coef"], fit.params, f"{ties} coef vs statsmodels")
    close(ours["se(coef)"], fit.bse, f"{ties} se vs statsmodels")
    # and the likelihood itself, at our estimate
    beta = ours["coef"].to_numpy()
    assert result["log_likelihood"] == pytest.approx(model.loglike(beta), rel=1e-10)
    assert np.abs(model.score(beta)).max() < 1e-6


def test_breslow_and_efron_differ_when_times_are_tied(stores):
    _, efron = fed(stores, ["age"], None, ties="efron")
    _, breslow = fed(stores, ["age"], None, ties="breslow")
    assert not np.allclose(efron["coef"], breslow["coef"], rtol=1e-6)


def test_a_reference_level_can_be_chosen(stores):
    _, ours = fed(stores, ["grade"], None, reference={"grade": "NCIT:C28079"})
    assert list(ours.index) == ["grade[T.NCIT:C28077]", "grade[T.NCIT:C28078]"]
    with pytest.raises(AnalysisError, match="reference level 'NCIT:C9' of 'grade'"):
        fed(stores, ["grade"], None, reference={"grade": "NCIT:C9"})


def test_nodes_without_usable_rows_add_nothing(stores, pooled):
    # demo-de holds gbsg2 (no overall survival) and lung (no grade): no complete case
    result, ours = fed(stores, ["age", "grade"], None)
    assert result["nodes"]["demo-de"] == {"records": 0, "events": 0}
    _, without = fed({n: c for n, c in stores.items() if n != "demo-de"}, ["age", "grade"], None)
    np.testing.assert_allclose(ours["coef"], without["coef"], rtol=1e-12)


@pytest.mark.parametrize("params, message", [
    ({"covariates": ["agee"]}, "unknown variable 'agee'"),
    ({"covariates": []}, "covariates"),
    ({"covariates": ["age"], "duration": "sex"}, "must be numeric"),
    ({"covariates": ["age", "age"]}, "different variables"),
    ({"covariates": ["age"], "ties": "exact"}, "ties"),
])
def test_bad_parameters_are_analysis_errors(stores, params, message):
    with pytest.raises(AnalysisError, match=message):
        run("cox", params, None, stores)


def test_a_covariate_that_does_not_vary_is_an_analysis_error(stores):
    with pytest.raises(AnalysisError, match="collinear, or a covariate does not vary"):
        run("cox", {"covariates": ["age", "treated:NCIT:C15329"]}, {"datasets": ["colon"]}, stores)  # all had surgery
    with pytest.raises(AnalysisError, match="'sex' has 1 level"):
        run("cox", {"covariates": ["age", "sex"]}, {"datasets": ["rotterdam"]}, stores)  # all women


def test_report_largest_differences():
    print("\ncox max relative differences:", {k: f"{v:.1e}" for k, v in max_relative.items()})
