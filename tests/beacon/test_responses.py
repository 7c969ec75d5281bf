"""The response documents against the official schemas, and the harness that checks them."""

import json
from datetime import datetime, timezone

import pytest

from conformance import COLLECTIONS, DOCUMENTS, ENVELOPE, ERROR, FRAMEWORK, RECORD, ROOT, check, problems
from oncofed.beacon import entry_types, responses
from oncofed.beacon.request import parse_get

BEACON = responses.BeaconInfo(id="urn:oncofed:node:test", name="Test Beacon", organization_id="test",
                              organization="Test hospital", description="A Beacon for tests",
                              created=datetime(2024, 1, 2, tzinfo=timezone.utc), software_version="0.1.0",
                              url="http://node.test/api")
QUERY = parse_get([("filters", "NCIT:C4872,age<50"), ("geneId", "EGFR"), ("requestedGranularity", "count")])
INDIVIDUALS = entry_types.ENTRY_TYPES["individuals"]


@pytest.mark.parametrize("name, build", [
    ("info", responses.info), ("service-info", responses.service_info), ("map", responses.beacon_map),
    ("configuration", responses.configuration), ("entry_types", responses.entry_type_definitions),
    ("filtering_terms", lambda b: responses.filtering_terms(b, [{"id": "NCIT:C4872", "type": "NCIT",
                                                                 "scopes": ["individual"]}])),
])
def test_informational_documents_validate(name, build):
    doc = build(BEACON)
    check(doc, DOCUMENTS[name])
    if name != "service-info":  # GA4GH service-info has no Beacon envelope
        assert doc["meta"]["returnedGranularity"] == "boolean"


def test_query_answers_validate_at_each_granularity_and_say_which():
    meta = responses.meta(BEACON, QUERY, INDIVIDUALS, "boolean")
    check(responses.boolean(meta, True), ENVELOPE["boolean"])
    check(responses.count(responses.meta(BEACON, QUERY, INDIVIDUALS, "count"), 12), ENVELOPE["count"])
    sets = [responses.result_set("ds", [{"id": "p1", "sex": {"id": "NCIT:C16576"}}], 3)]
    doc = responses.result_sets(responses.meta(BEACON, QUERY, INDIVIDUALS, "record"), 3, sets)
    check(doc, ENVELOPE["record"])
    assert doc["meta"]["returnedGranularity"] == "record"
    assert doc["meta"]["receivedRequestSummary"]["requestedGranularity"] == "count"
    check(responses.collections(responses.meta(BEACON, QUERY, entry_types.ENTRY_TYPES["datasets"], "record"),
                                [{"id": "ds", "name": "A dataset"}], 1), COLLECTIONS)


def test_an_error_validates_with_or_without_the_query():
    check(responses.error(BEACON, 400, "filters: unknown filter term 'X:1'"), ERROR)
    check(responses.error(BEACON, 404, "no such endpoint", QUERY), ERROR)


def test_the_map_lists_every_route_of_every_entry_type():
    m = entry_types.beacon_map("http://node.test/api")["endpointSets"]
    assert set(m) == {"individual", "biosample", "genomicVariant", "dataset", "cohort"}
    urls = {e["url"] for s in m.values() for e in s["endpoints"].values()}
    assert urls == {"http://node.test/api/individuals/{id}/biosamples", "http://node.test/api/individuals/{id}/g_variants",
                    "http://node.test/api/biosamples/{id}/g_variants", "http://node.test/api/g_variants/{id}/biosamples",
                    "http://node.test/api/g_variants/{id}/individuals", "http://node.test/api/datasets/{id}/individuals",
                    "http://node.test/api/datasets/{id}/biosamples", "http://node.test/api/datasets/{id}/g_variants",
                    "http://node.test/api/cohorts/{id}/individuals"}
    assert m["dataset"]["filteringTermsUrl"] == "http://node.test/api/datasets/{id}/filtering_terms"


def test_the_harness_rejects_what_the_schemas_reject():
    # a response without returnedGranularity: upstream's own boolean example (README, problem 3)
    example = json.loads((ROOT / FRAMEWORK / "responses/examples-fullDocuments/beaconBooleanResponse-example.json")
                         .read_text())
    assert any("returnedGranularity" in p for p in problems(example, ENVELOPE["boolean"]))
    assert problems({"id": "p1"}, RECORD["individuals"]) == ["(root): 'sex' is a required property"]
    bad_variant = {"variantInternalId": "v", "variation": {"variantType": "SNP", "alternateBases": "Z",
                                                           "location": {"type": "SequenceLocation"}}}
    assert problems(bad_variant, RECORD["g_variants"])


@pytest.mark.parametrize("example, schema", [
    ("framework/json/responses/examples-fullDocuments/beaconInfo-MIN-example.json", DOCUMENTS["info"]),
    ("framework/json/responses/examples-fullDocuments/beaconMapResponse-example.json", DOCUMENTS["map"]),
    ("models/json/beacon-v2-default-model/genomicVariations/examples/genomicVariant-MIN-VRS-example.json",
     RECORD["g_variants"]),
    ("models/json/beacon-v2-default-model/biosamples/examples/biosample-MID-example.json", RECORD["biosamples"]),
])
def test_the_upstream_examples_the_readme_lists_as_valid_pass(example, schema):
    check(json.loads((ROOT / example).read_text()), schema)
