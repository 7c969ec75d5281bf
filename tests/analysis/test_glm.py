"""Federated GLMs equal statsmodels' GLM on the pooled rows, to 1e-6 relative on coefficients
and standard errors (statsmodels fitted to a tight deviance tolerance: its default stops
while the standard errors still move in the 6th digit)."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from demo_nodes import dummy_coded, pooled, stores  # noqa: F401 (fixtures)

from oncofed.analysis import tables
from oncofed.analysis.base import AnalysisError
from oncofed.analysis.run import run

FAMILIES = {"gaussian": sm.families.Gaussian(), "binomial": sm.families.Binomial(), "poisson": sm.families.Poisson()}
max_relative = {}


def close(ours, theirs, what):
    relative = np.max(np.abs(np.asarray(ours) - np.asarray(theirs)) / np.abs(np.asarray(theirs)))
    max_relative[what] = max(max_relative.get(what, 0), relative)
    assert relative < 1e-6, f"{what}: relative difference {relative:.2e}"


CASES = [
    ("gaussian", "age", ["sex", "grade", "measurement:LOINC:21893-3"], None, {}),
    ("binomial", "os_event", ["age", "sex", "grade"], None, {}),
    ("binomial", "treated:NCIT:C15632", ["age", "grade", "marker:LOINC:21889-1"], {"datasets": ["rotterdam"]}, {}),
    ("poisson", "measurement:LOINC:21893-3", ["age", "grade"], None, {}),
    ("poisson", "os_event", ["age", "sex"], None, {"exposure": "os_days"}),
]


@pytest.mark.parametrize("family, outcome, covariates, cohort, extra", CASES)
def test_glm_equals_statsmodels(stores, pooled, family, outcome, covariates, cohort, extra):
    result = run("glm", {"outcome": outcome, "covariates": covariates, "family": family, **extra}, cohort, stores)
    ours = tables.to_frame(result["summary"])
    rows = pooled([outcome, *covariates, *extra.values()], cohort).dropna()
    x = pd.concat([pd.DataFrame({"Intercept": 1.0}, index=rows.index), dummy_coded(rows, covariates)], axis=1)
    exposure = rows[extra["exposure"]] if "exposure" in extra else None
    fit = sm.GLM(rows[outcome], x, family=FAMILIES[family], exposure=exposure).fit(tol=1e-13)
    theirs = fit.summary2().tables[1].loc[ours.index]
    assert list(ours.columns) == ["coef", "std err", "z", "P>|z|", "[0.025", "0.975]"]
    close(ours["coef"], fit.params[ours.index], f"{family} coef")
    close(ours["std err"], fit.bse[ours.index], f"{family} se")
    close(ours[["[0.025", "0.975]"]].to_numpy(), theirs[["[0.025", "0.975]"]].to_numpy(), f"{family} CI")
    assert result["deviance"] == pytest.approx(fit.deviance, rel=1e-9)
    assert result["scale"] == pytest.approx(fit.scale, rel=1e-9)
    assert result["log_likelihood"] == pytest.approx(fit.llf, rel=1e-9)
    assert result["aic"] == pytest.approx(fit.aic, rel=1e-9)
    assert result["n"] == fit.nobs and result["df_resid"] == fit.df_resid


def test_a_binomial_outcome_must_be_zero_or_one(stores):
    with pytest.raises(AnalysisError, match="0 or 1"):
        run("glm", {"outcome": "age", "covariates": ["sex"], "family": "binomial"}, None, stores)


@pytest.mark.parametrize("params, message", [
    ({"outcome": "sex"}, "categorical"),
    ({"outcome": "age", "family": "gamma"}, "family"),
    ({"outcome": "age", "exposure": "os_days"}, "Poisson"),
    ({"outcome": "age", "covariates": ["nonsense"]}, "unknown variable 'nonsense'"),
])
def test_bad_parameters_are_analysis_errors(stores, params, message):
    with pytest.raises(AnalysisError, match=message):
        run("glm", params, None, stores)


def test_report_largest_differences():
    print("\nglm max relative differences:", {k: f"{v:.1e}" for k, v in max_relative.items()})
