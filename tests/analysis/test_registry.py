"""Analyses are found by name and version."""

import pytest
from oncofed.analysis import registry
from oncofed.analysis.base import AnalysisError


def test_every_builtin_analysis_is_registered():
    assert {(a.name, a.version) for a in registry.all()} == {
        ("count", "1"), ("crosstab", "1"), ("summary", "1"), ("km", "1"), ("cox", "1"), ("glm", "1")}


def test_get_finds_the_latest_version_or_the_named_one():
    assert registry.get("cox").version == "1"
    assert registry.get("cox", "1") is registry.get("cox")


def test_an_unknown_analysis_or_version_is_an_analysis_error_listing_the_known():
    with pytest.raises(AnalysisError, match="unknown analysis 'coxx'; known analyses: count, cox, crosstab"):
        registry.get("coxx")
    with pytest.raises(AnalysisError, match="no version '9'; versions: 1"):
        registry.get("cox", "9")


def test_a_new_version_registers_beside_the_old():
    old = registry.get("count")
    new = registry.register(registry.Registered("count", "1.10", old.validate, old.node_step, old.hub_step))
    try:
        assert registry.get("count") is new and registry.get("count", "1") is old
    finally:
        registry._analyses.pop(("count", "1.10"))
