"""DUO purpose matching: permission hierarchy, disease-specific consent, restricting modifiers,
requirements reported as conditions."""

import pytest

from oncofed.model import duo

BREAST, IDC, LUNG = "NCIT:C4872", "NCIT:C4194", "NCIT:C4878"
NRES, GRU, HMB, DS, POA = duo.NO_RESTRICTION, duo.GRU, duo.HMB, duo.DS, duo.POA


@pytest.mark.parametrize("dataset, wanted, allowed", [
    ([NRES], "GRU", True), ([NRES], "POA", True),
    ([GRU], "GRU", True), ([GRU], "HMB", True), ([GRU], "POA", True),
    ([HMB], "HMB", True), ([HMB], "GRU", False), ([HMB], "POA", False),
    ([POA], "POA", True), ([POA], "HMB", False),
    ([], "HMB", False), (["DUO:0000019"], "HMB", False),
])
def test_a_purpose_needs_a_permission_that_is_it_or_above_it(dataset, wanted, allowed):
    assert duo.match(duo.purpose(wanted), dataset).allowed is allowed


@pytest.mark.parametrize("consented, studied, allowed", [
    ([BREAST], [BREAST], True),
    ([BREAST], [IDC], True),  # a descendant of the consented disease
    ([IDC], [BREAST], False),  # broader than the consent
    ([BREAST], [BREAST, LUNG], False),
    ([], [BREAST], False),
])
def test_disease_specific_consent_covers_the_disease_and_below(consented, studied, allowed):
    assert duo.match(duo.purpose("DS", studied), [DS], consented).allowed is allowed


def test_health_research_consent_covers_any_disease_specific_study():
    assert duo.match(duo.purpose("DS", [LUNG]), [HMB]).allowed


@pytest.mark.parametrize("modifier, flags, allowed", [
    ("DUO:0000046", {"commercial": True}, False), ("DUO:0000046", {}, True),
    ("DUO:0000045", {"commercial": True}, False), ("DUO:0000018", {"commercial": True}, False),
    ("DUO:0000015", {"methods": True}, False), ("DUO:0000015", {}, True),
    ("DUO:0000016", {}, False), ("DUO:0000016", {"genetic": True}, True),
    ("DUO:0000043", {"clinical_care": True}, True),
])
def test_restricting_modifiers_decide(modifier, flags, allowed):
    assert duo.match(duo.purpose("HMB", **flags), [HMB, modifier]).allowed is allowed


def test_clinical_care_needs_its_modifier_and_ancestry_research_can_be_excluded():
    assert not duo.match(duo.purpose("HMB", clinical_care=True), [HMB]).allowed
    assert not duo.match(duo.purpose("POA"), [GRU, "DUO:0000044"]).allowed


def test_requirements_do_not_decide_but_are_listed():
    match = duo.match(duo.purpose("HMB"), [HMB, "DUO:0000019", "DUO:0000021"])
    assert match.allowed
    assert match.conditions == ("DUO:0000019 publication required", "DUO:0000021 ethics approval required")


def test_a_refusal_says_why():
    match = duo.match(duo.purpose("GRU", commercial=True), [HMB, "DUO:0000046"])
    assert not match.allowed
    assert any("not covered" in r for r in match.reasons) and any("commercial" in r for r in match.reasons)


def test_bad_purposes_and_codes_are_refused():
    with pytest.raises(duo.DuoError, match="unknown research purpose"):
        duo.purpose("XYZ")
    with pytest.raises(duo.DuoError, match="needs the disease"):
        duo.purpose("DS")
    with pytest.raises(duo.DuoError, match="DUO:0000999"):
        duo.check_codes([HMB, "DUO:0000999"])


@pytest.mark.parametrize("code, condition", [
    ("DUO:0000019", "publication required"), ("DUO:0000020", "collaboration required"),
    ("DUO:0000021", "ethics approval required"), ("DUO:0000025", "time limit on use"),
    ("DUO:0000026", "user specific restriction"), ("DUO:0000022", "geographical restriction"),
])
def test_each_requirement_code_is_a_condition_the_dac_sees(code, condition):
    match = duo.match(duo.purpose("HMB"), [HMB, code])
    assert match.allowed and match.conditions == (f"{code} {condition}",)


def test_not_for_profit_use_refuses_a_commercial_purpose():
    assert duo.match(duo.purpose("HMB"), [HMB, "DUO:0000045"]).allowed
    assert not duo.match(duo.purpose("HMB", commercial=True), [HMB, "DUO:0000045"]).allowed
