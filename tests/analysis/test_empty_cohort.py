"""A cohort nobody is in gets an answer or a refusal that says why, from every analysis,
never an internal error."""

import pytest
from demo_nodes import stores  # noqa: F401 (fixture)

from oncofed.analysis.base import AnalysisError
from oncofed.analysis.run import run
from oncofed.privacy.policy import GuardPolicy

NOBODY = {"datasets": ["ncctg-lung"], "filters": [{"variable": "age", "op": ">", "value": 200}]}
ANALYSES = [
    ("count", {}),
    ("crosstab", {"row": "sex", "column": "vital_status"}),
    ("summary", {"variable": "age"}),
    ("km", {"interval": 30}),
    ("cox", {"duration": "os_days", "event": "os_event", "covariates": ["age"]}),
    ("glm", {"outcome": "os_event", "covariates": ["age"], "family": "binomial"}),
]


@pytest.mark.parametrize("policy", [None, GuardPolicy()], ids=["unguarded", "guarded"])
@pytest.mark.parametrize(("analysis", "params"), ANALYSES, ids=[a for a, _ in ANALYSES])
def test_an_empty_cohort_is_answered_or_refused_with_a_reason(stores, analysis, params, policy):
    try:
        result = run(analysis, params, NOBODY, stores, policy=policy)
    except AnalysisError as e:
        assert str(e)  # a refusal that says why
    else:
        assert result is not None
