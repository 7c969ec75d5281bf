"""Beacon filters on the store: ontology terms with their descendants across the record
tables, alphanumeric fields as the analysis variables define them, custom terms, and how
clinical and variant criteria combine."""

import pytest

from constructed import index, store  # noqa: F401 (fixtures)
from oncofed.beacon import filters, selection, terms, variants
from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import parse_body, parse_get


def found(store, index, *params, entry="individuals", body=None):
    """The ids of ``entry`` a query selects: GET parameters, or a POST body."""
    query = parse_body(body) if body is not None else parse_get(list(params))
    criteria = filters.criteria(query.filters, index) + variants.criteria(query.variant, lambda: 10)
    sel = selection.select(entry, ["ds"], criteria)
    return {r[1] for r in store.con.execute(*sel.page(100, 0)).fetchall()}


def test_a_parent_term_finds_its_stored_subtypes(store, index):
    # ann has invasive lobular breast carcinoma (NCIT:C7950), two levels below breast carcinoma
    assert found(store, index, ("filters", "NCIT:C4872")) == {"ann", "bea"}
    assert found(store, index, ("filters", "NCIT:C2916")) == {"ann", "bea", "carl"}  # carcinoma
    assert found(store, index, ("filters", "NCIT:C7950")) == {"ann"}


def test_without_descendants_only_the_term_itself_matches(store, index):
    body = {"query": {"filters": [{"id": "NCIT:C4872", "includeDescendantTerms": False}]}}
    assert found(store, index, body=body) == {"bea"}


def test_a_term_matches_every_column_that_codes_it(store, index):
    assert found(store, index, ("filters", "ATC:L02BA01")) == {"ann"}  # treatment agent
    assert found(store, index, ("filters", "ATC:L02BA")) == {"ann"}  # ATC nests by prefix
    assert found(store, index, ("filters", "NCIT:C15445")) == {"ann"}  # treatment type
    assert found(store, index, ("filters", "LOINC:85337-4")) == {"bea"}  # a measurement's code
    assert found(store, index, ("filters", "NCIT:C38758")) == {"bea"}  # a measurement's value
    assert found(store, index, ("filters", "NCIT:C16576")) == {"ann", "bea"}  # sex
    assert found(store, index, ("filters", "ONCOFED:air_quality")) == {"carl"}  # through the region lived in
    assert found(store, index, ("filters", "GENO:0000136")) == {"carl"}  # a call's zygosity
    assert found(store, index, ("filters", "SO:0000667")) == {"bea"}  # a variant's class


def test_an_excluded_phenotypic_feature_does_not_match(store, index):
    assert found(store, index, ("filters", "NCIT:C3262")) == {"ann", "bea", "carl"}  # through their diseases
    body = {"query": {"filters": [{"id": "NCIT:C3262", "includeDescendantTerms": False}]}}
    assert found(store, index, body=body) == set()  # carl's feature is excluded


def test_a_grade_on_a_disease_or_a_biosample_matches_and_scope_keeps_to_one(store, index):
    assert found(store, index, ("filters", "NCIT:C28079")) == {"ann"}  # disease grade 3
    assert found(store, index, ("filters", "NCIT:C28078"), entry="biosamples") == {"ann-t"}
    def scoped(scope):
        return found(store, index, body={"query": {"filters": [{"id": "NCIT:C28078", "scope": scope}]}})

    assert scoped("biosample") == {"ann"}
    assert scoped("individual") == set()  # no disease has grade 2
    with pytest.raises(BeaconError, match=r"filters\[NCIT:C28078\].scope: unknown entry type 'runs'"):
        scoped("runs")


def test_an_unknown_term_is_an_error_pointing_to_filtering_terms(store, index):
    with pytest.raises(BeaconError, match="unknown filter term 'NCIT:C9999999'; see /filtering_terms"):
        found(store, index, ("filters", "NCIT:C9999999"))
    # a vocabulary term the store does not hold is known: it matches nothing
    assert found(store, index, ("filters", "NCIT:C4917")) == set()


def test_alphanumeric_filters_compare_the_analysis_variables(store, index):
    assert found(store, index, ("filters", "age<50")) == {"ann"}
    assert found(store, index, ("filters", "age>=67.5")) == {"bea", "carl"}
    assert found(store, index, ("filters", "diseases.ageOfOnset>P60Y")) == {"bea", "carl"}
    assert found(store, index, ("filters", "age_at_diagnosis!44")) == {"bea", "carl"}
    assert found(store, index, ("filters", "sex=NCIT:C20197")) == {"carl"}
    assert found(store, index, ("filters", "measurement:LOINC:21893-3>0")) == {"ann"}
    assert found(store, index, ("filters", "country=D%")) == {"ann"}
    assert found(store, index, ("filters", "country!*L")) == {"ann", "carl"}


@pytest.mark.parametrize("text, message", [
    ("age<fifty", r"filters\[age\].value: expected a number or an ISO 8601 duration"),
    ("sex<NCIT:C20197", r"filters\[sex\].operator: sex is text or a code; use = or !"),
    ("country>D%", r"filters\[country\].value: a wildcard needs operator = or !"),
    ("height>170", "unknown filter field 'height'; see /filtering_terms"),
    ("oncofed:favourite:colour", "unknown custom filter 'oncofed:favourite:colour'"),
])
def test_a_bad_alphanumeric_or_custom_filter_names_the_problem(store, index, text, message):
    with pytest.raises(BeaconError, match=message):
        found(store, index, ("filters", text))


def test_custom_filters(store, index):
    assert found(store, index, ("filters", "oncofed:has:treatments")) == {"ann"}
    assert found(store, index, ("filters", "oncofed:has:variants")) == {"ann", "bea", "carl"}
    assert found(store, index, ("filters", "oncofed:has:imaging")) == set()
    assert found(store, index, ("filters", "oncofed:tumour_normal:normal"), entry="biosamples") == {"ann-n"}
    assert found(store, index, ("filters", "oncofed:origin:somatic"), entry="g_variants") == \
        {"snv", "ins", "mnp", "longdel", "bnd"}


def test_variant_criteria_on_individuals_hold_for_one_variant_in_one_call(store, index):
    # carl carries the EGFR variant snv (germline) and somatic variants elsewhere, none in EGFR
    assert found(store, index, ("geneId", "EGFR"), ("filters", "oncofed:origin:somatic")) == {"ann", "bea"}
    # ann has an SNV (in EGFR) and a BRAF variant (an MNV): not a BRAF SNV
    assert found(store, index, ("geneId", "BRAF"), ("filters", "SO:0001483")) == {"bea"}


def test_genomic_variants_are_those_whose_carrier_meets_the_clinical_criteria(store, index):
    # snv is carried by ann (female, 44) and carl (male, 71): no one carrier is a man under 50
    assert found(store, index, ("geneId", "EGFR"), ("filters", "sex=NCIT:C20197"), entry="g_variants") == {"snv"}
    assert found(store, index, ("geneId", "EGFR"), ("filters", "sex=NCIT:C20197,age<50"), entry="g_variants") == set()
    assert found(store, index, ("geneId", "EGFR"), ("filters", "NCIT:C4872,age<50"), entry="g_variants") == {"snv", "del"}
    assert found(store, index, ("filters", "oncofed:tumour_normal:normal"), entry="g_variants") == {"del"}


def test_clinical_and_variant_criteria_combine_in_one_query(store, index):
    # breast carcinoma AND an EGFR variant AND age < 50
    assert found(store, index, ("filters", "NCIT:C4872,age<50"), ("geneId", "EGFR")) == {"ann"}
    assert found(store, index, ("filters", "NCIT:C4872,age<50"), ("geneId", "EGFR"), entry="biosamples") == \
        {"ann-t", "ann-n"}


def test_the_filtering_terms_list_what_the_store_holds(store, index):
    listed = {t["id"]: t for t in terms.filtering_terms(index)}
    assert listed["NCIT:C7950"] == {"id": "NCIT:C7950", "type": "NCIT", "label": "Invasive Lobular Breast Carcinoma",
                                    "scopes": ["individual"]}
    assert listed["NCIT:C28078"]["scopes"] == ["biosample"]
    assert listed["SO:0000159"]["scopes"] == ["genomicVariation"]
    assert listed["ONCOFED:air_quality"]["label"] == "Air quality index (constructed)"  # the source's label
    assert listed["age"]["type"] == "alphanumeric"
    assert "measurement:LOINC:21893-3" in listed and "marker:LOINC:85337-4" in listed
    assert {"oncofed:has:treatments", "oncofed:origin:germline", "oncofed:tumour_normal:normal"} <= set(listed)
    assert "NCIT:C4872" in listed and "NCIT:C4917" not in listed  # stored codes only
    assert "EGFR" not in listed  # gene symbols are not codes: geneId queries them
    assert terms.filtering_terms(index, {"other"}) == [t for t in terms.filtering_terms(index)
                                                       if t["type"] == "alphanumeric" and ":" not in t["id"]]
