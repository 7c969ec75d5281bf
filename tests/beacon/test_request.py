"""Beacon queries parsed from GET parameters and POST bodies: one model, every malformed
request a 400 naming the field, and the query's own POST form read back to the same query."""

import json

import pytest

from conformance import FRAMEWORK, ROOT, check
from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import (
    MAX_LIMIT,
    AlphanumericFilter,
    BeaconQuery,
    CustomFilter,
    OntologyFilter,
    parse_body,
    parse_get,
)


def test_get_parameters_become_filters_variant_parameters_and_paging():
    q = parse_get([("filters", "NCIT:C4872,age<50"), ("filters", "oncofed:has:variants"), ("referenceName", "7"),
                   ("start", "55191821"), ("alternateBases", "g"), ("skip", "2"), ("limit", "5"),
                   ("requestedGranularity", "count"), ("testMode", "true")])
    assert q.filters == (OntologyFilter(id="NCIT:C4872"), AlphanumericFilter(id="age", operator="<", value="50"),
                         CustomFilter(id="oncofed:has:variants"))
    assert (q.variant.referenceName, q.variant.start, q.variant.alternateBases) == ("7", (55191821,), "G")
    assert (q.skip, q.limit, q.offset, q.granularity, q.test_mode) == (2, 5, 10, "count", True)


def test_list_parameters_may_repeat_or_be_comma_separated():
    a = parse_get([("referenceName", "1"), ("start", "10,20"), ("end", "30,40")])
    b = parse_get([("referenceName", "1"), ("start", "10"), ("start", "20"), ("end", "30"), ("end", "40")])
    assert a == b and a.variant.start == (10, 20)


def test_the_openapi_spellings_of_gene_and_allele_are_read():
    q = parse_get([("geneid", "EGFR"), ("allele", "NM_005228.5:c.2573T>G")])
    assert (q.variant.geneId, q.variant.genomicAlleleShortForm) == ("EGFR", "NM_005228.5:c.2573T>G")


def test_limit_zero_means_as_many_as_allowed():
    assert parse_get([("limit", "0")]).page_size == MAX_LIMIT
    assert parse_get([("limit", str(MAX_LIMIT * 5))]).page_size == MAX_LIMIT


@pytest.mark.parametrize("params, message", [
    ([("referenceName", "7"), ("start", "x"), ("end", "9")], "start: expected 0-based positions"),
    ([("referenceName", "7"), ("start", "-1"), ("end", "9")], "start: expected 0-based positions"),
    ([("start", "5"), ("end", "9")], "referenceName: needed with start"),
    ([("referenceName", "7"), ("start", "5")], "alternateBases: a sequence query"),
    ([("referenceName", "7"), ("end", "5")], "end: needs start"),
    ([("referenceName", "7"), ("start", "5,6"), ("end", "7")], "end: give one value with one start"),
    ([("referenceName", "7"), ("start", "9"), ("end", "5")], "end: must be greater than start"),
    ([("referenceName", "7"), ("start", "6,5"), ("end", "7,8")], "start, end: each bracket"),
    ([("referenceName", "7"), ("start", "1,2,3"), ("end", "5")], "start: expected one or two positions"),
    ([("referenceBases", "XYZ")], "referenceBases: expected bases"),
    ([("variantMinLength", "5"), ("variantMaxLength", "2")], "variantMinLength: must not exceed"),
    ([("variantMaxLength", "0")], "variantMaxLength: Input should be greater than or equal to 1"),
    ([("geneId", " ")], "geneId: must not be empty"),
    ([("skip", "-1")], "skip: expected a whole number, 0 or more"),
    ([("limit", "ten")], "limit: expected a whole number"),
    ([("limit", "1"), ("limit", "2")], "limit: given 2 times"),
    ([("requestedGranularity", "all")], "requestedGranularity: Input should be 'boolean', 'count' or 'record'"),
    ([("includeResultsetResponses", "SOME")], "includeResultsetResponses: Input should be"),
    ([("testMode", "maybe")], "testMode: expected true or false"),
    ([("geneID", "EGFR")], "geneID: unknown query parameter"),
    ([("geneId", "EGFR"), ("geneid", "KRAS")], "geneid: given twice"),
    ([("filters", ",")], None),  # nothing but separators: no filter at all
])
def test_a_malformed_get_request_names_the_field(params, message):
    if message is None:
        assert parse_get(params).filters == ()
        return
    with pytest.raises(BeaconError) as e:
        parse_get(params)
    assert str(e.value).startswith(message), str(e.value)
    assert e.value.status == 400


def test_a_post_body_reads_nested_or_flat_request_parameters():
    nested = {"meta": {"apiVersion": "v2.0"}, "query": {
        "requestParameters": {"g_variant": {"referenceName": "7", "start": [99], "alternateBases": "T"}},
        "filters": [{"id": "NCIT:C4872", "includeDescendantTerms": False},
                    {"id": "age", "operator": "<=", "value": 50}, "oncofed:origin:somatic"],
        "pagination": {"skip": 1, "limit": 3}, "requestedGranularity": "count",
        "includeResultsetResponses": "ALL", "testMode": False}}
    q = parse_body(json.dumps(nested).encode())
    assert q.filters[0] == OntologyFilter(id="NCIT:C4872", includeDescendantTerms=False)
    assert q.filters[1] == AlphanumericFilter(id="age", operator="<=", value=50)
    assert (q.variant.start, q.skip, q.limit, q.include_resultsets, q.api_version) == ((99,), 1, 3, "ALL", "v2.0")
    flat = dict(nested, query=dict(nested["query"], requestParameters=nested["query"]["requestParameters"]["g_variant"]))
    assert parse_body(flat) == q


def test_request_parameters_may_name_the_datasets_to_answer_from():
    q = parse_body({"query": {"requestParameters": {"datasets": {"datasetIds": ["gbsg2"]},
                                                    "g_variant": {"geneId": "EGFR"}}}})
    assert (q.datasets, q.variant.geneId) == (("gbsg2",), "EGFR")
    assert q.summary()["requestParameters"] == {"g_variant": {"geneId": "EGFR"}, "datasets": {"datasetIds": ["gbsg2"]}}
    assert parse_body(q.to_body()) == q


def test_an_empty_body_is_the_default_query():
    assert parse_body(b"") == parse_body(None) == parse_body({"meta": {"apiVersion": "v2.0.0"}}) \
        .model_copy(update={"api_version": BeaconQuery().api_version}) == BeaconQuery()


@pytest.mark.parametrize("body, message", [
    (b"{", "body: not JSON"),
    (b"[]", "body: expected a beaconRequestBody object"),
    ({"query": [], "meta": {}}, "query: expected an object"),
    ({"query": {"filters": "NCIT:C4872"}}, "query.filters: expected a list"),
    ({"query": {"filters": [{"label": "x"}]}}, "filters: expected a term id or a filter object"),
    ({"query": {"filters": [{"id": "age", "operator": "~", "value": "3"}]}}, "filters[age].operator: Input should be"),
    ({"query": {"filters": [{"id": "age", "operator": "<", "value": True}]}}, "filters[age].value: expected a number"),
    ({"query": {"filters": [{"id": "NCIT:C4872", "includeDescendantTerms": "sometimes"}]}},
     "filters[NCIT:C4872].includeDescendantTerms: Input should be a valid boolean"),
    ({"query": {"pagination": {"skip": -1}}}, "query.pagination.skip: expected a whole number"),
    ({"query": {"pagination": {"page": 2}}}, "query.pagination.page: unknown field"),
    ({"query": {"requestParameters": {"start": [1]}}}, "query.requestParameters.referenceName: needed with start"),
    ({"query": {"requestParameters": {"g_variant": {"referenceName": "1"}, "start": [1]}}},
     "query.requestParameters.start: give either"),
    ({"query": {"requestParameters": {"datasets": {"datasetIds": "gbsg2"}}}},
     "query.requestParameters.datasets.datasetIds: expected a list"),
    ({"query": {"requestParameters": {"chromosome": "1"}}}, "query.requestParameters.chromosome: Extra inputs"),
    ({"query": {"requestedGranularity": "all"}}, "query.requestedGranularity: Input should be"),
    ({"query": {"limit": 5}}, "query.limit: unknown field"),
    ({"meta": {"requestedSchemas": "individual"}}, "meta.requestedSchemas: expected a list"),
    ({"metadata": {}}, "body.metadata: unknown field"),
])
def test_a_malformed_post_body_names_the_field(body, message):
    with pytest.raises(BeaconError) as e:
        parse_body(body)
    assert str(e.value).startswith(message), str(e.value)


def test_a_query_reads_back_from_its_own_post_body():
    q = parse_get([("filters", "NCIT:C4872,age>=P50Y,oncofed:has:imaging"), ("referenceName", "7"),
                   ("start", "10,20"), ("end", "30,40"), ("variantType", "DEL"), ("limit", "7"),
                   ("requestedGranularity", "count"), ("includeResultsetResponses", "MISS"), ("testMode", "true")])
    assert parse_body(q.to_body()) == q


def test_the_post_body_and_the_request_summary_follow_the_schemas():
    q = parse_get([("filters", "NCIT:C4872,age<50"), ("referenceName", "7"), ("start", "99"),
                   ("alternateBases", "T"), ("requestedGranularity", "count")])
    check(q.to_body(), FRAMEWORK + "requests/beaconRequestBody.json")
    check(q.summary(), FRAMEWORK + "responses/sections/beaconReceivedRequestSummary.json")
    assert q.summary()["requestParameters"] == {"g_variant": {"referenceName": "7", "start": [99],
                                                              "alternateBases": "T"}}


@pytest.mark.parametrize("example", ["beaconRequestBody-MIN-example.json", "beaconRequestBody-MAX-example.json"])
def test_the_upstream_request_examples_parse(example):
    body = json.loads((ROOT / FRAMEWORK / "requests/examples-fullDocuments" / example).read_text())
    check(body, FRAMEWORK + "requests/beaconRequestBody.json")
    q = parse_body(body)
    assert isinstance(q, BeaconQuery)
