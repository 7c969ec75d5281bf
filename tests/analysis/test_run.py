"""The in-process driver runs an analysis as the hub does: guard on every partial, refused
nodes left out and named, everything through JSON."""

import json

import pytest
from demo_nodes import stores  # noqa: F401 (fixtures)

from oncofed.analysis.base import AnalysisError
from oncofed.analysis.run import run
from oncofed.privacy.policy import GuardPolicy


def test_a_model_with_too_many_parameters_for_a_node_is_refused_there(stores):
    params = {"covariates": ["age", "sex", "measurement:LOINC:89247-1"]}
    result = run("cox", params, {"datasets": ["ncctg-lung"]}, stores,
                 policy=GuardPolicy(max_parameter_ratio=0.04))  # 3 parameters need 75 individuals
    assert sorted(result["refused"]) == ["demo-fr", "demo-nl"]
    assert sorted(result["nodes"]) == ["demo-de"]


def test_no_answering_node_is_an_analysis_error(stores):
    with pytest.raises(AnalysisError, match="no node could answer"):
        run("cox", {"covariates": ["age"]}, {"datasets": ["ncctg-lung"]}, stores, policy=GuardPolicy(min_records=500))


def test_results_are_json(stores):
    result = run("km", {"interval": 90, "group": "sex"}, {"datasets": ["ncctg-lung"]}, stores)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
