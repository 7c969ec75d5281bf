"""The hub as a Beacon network, end to end: a real hub and three real node processes (one
behind the relay transport) holding GBSG-2, the NCCTG lung trial split by institution, the
colon trial and the HCC1187 tumour/normal VCF of the EGFR region. Every /map URL of the hub
answers a plain GET valid against the official schemas; counts add up across nodes; small
counts never appear; a slow node is reported, not waited for."""

import json
import os
import re

import httpx
import pytest

from beacon.conformance import DOCUMENTS, check, check_answer, map_urls
from beacon.nodes import EGFR_SOMATIC
from conftest import DATA
from oncofed.testing import LocalFederation

SPLIT = {"de": "TRY_CAST(inst AS DOUBLE) <= 7", "nl": "TRY_CAST(inst AS DOUBLE) BETWEEN 10 AND 13",
         "fr": "inst IS NULL OR TRY_CAST(inst AS DOUBLE) >= 15"}
LUNG = {"mapping": DATA / "ncctg-lung/mapping.yaml"}
TIMEOUT_S = 3
EGFR_SEQUENCE = {"assemblyId": "GRCh37", "referenceName": "7", "start": "55083587",
                 "referenceBases": "C", "alternateBases": "T"}


@pytest.fixture(scope="module")
def fed():
    os.environ["ONCOFED_BEACON_TIMEOUT_S"] = str(TIMEOUT_S)
    try:
        with LocalFederation() as lf:
            lf.add_node("de", country="DE") \
                .add_dataset("gbsg2", DATA / "gbsg2/gbsg2.csv", mapping=DATA / "gbsg2/mapping.yaml") \
                .add_dataset("lung", DATA / "ncctg-lung/lung.csv", where=SPLIT["de"], **LUNG) \
                .add_dataset("hcc1187", DATA / "vcf/chr7-sub.vcf.gz", format="vcf",
                             samples=DATA / "vcf/hcc1187-samples.tsv")
            lf.add_node("nl", country="NL", transport="relay") \
                .add_dataset("lung", DATA / "ncctg-lung/lung.csv", where=SPLIT["nl"], **LUNG)
            lf.add_node("fr", country="FR") \
                .add_dataset("lung", DATA / "ncctg-lung/lung.csv", where=SPLIT["fr"], **LUNG) \
                .add_dataset("colon", DATA / "colon/colon.csv", mapping=DATA / "colon/mapping.yaml")
            lf.start()
            yield lf
    finally:
        del os.environ["ONCOFED_BEACON_TIMEOUT_S"]


@pytest.fixture(scope="module")
def client(fed):
    with httpx.Client(base_url=fed.hub_url, timeout=30) as c:
        yield c


def auth(fed):
    return {"Authorization": f"Bearer {fed.token}"}


def test_the_hub_serves_its_own_informational_documents(client, fed):
    for name, schema in DOCUMENTS.items():
        if name == "filtering_terms":
            continue
        body = client.get(f"/api/{name}").json()
        check(body, schema)
    info = client.get("/api/info").json()
    assert info["meta"]["beaconId"] == "urn:oncofed:hub:local-hub"
    assert all(u.startswith(fed.hub_url + "/api/") for u, _ in map_urls(client, {k: "x" for k in (
        "individual", "biosample", "genomicVariant", "dataset", "cohort")}))


@pytest.mark.parametrize("caller", ["public", "registered"])
def test_every_map_url_answers_a_plain_get_valid_against_the_schemas(client, fed, caller):
    headers = auth(fed) if caller == "registered" else {}
    ids = {"individual": "de:unknown", "biosample": "de:unknown", "genomicVariant": EGFR_SOMATIC,
           "dataset": "de:hcc1187", "cohort": "fr:colon"}
    seen = set()
    for url, entry in map_urls(client, ids):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.text)
        body = response.json()
        seen.add(check_answer(body, entry))
        if entry not in ("datasets", "cohorts", "filtering_terms"):
            assert set(body["info"]["nodes"]) <= {"de", "nl", "fr"}, url
    assert "count" in seen if caller == "registered" else "count" not in seen


def test_a_count_adds_the_nodes_counts_and_equals_the_federated_count(client, fed):
    body = client.get("/api/individuals", headers=auth(fed)).json()
    check_answer(body, "individuals")
    assert body["meta"]["returnedGranularity"] == "count"
    assert body["responseSummary"]["numTotalResults"] == fed.federation.count().count
    assert {n: s["status"] for n, s in body["info"]["nodes"].items()} == {"de": "ok", "nl": "ok", "fr": "ok"}
    lung = client.post("/api/individuals", headers=auth(fed), json={"query": {
        "requestParameters": {"datasets": {"datasetIds": ["lung"]}}}}).json()
    assert lung["responseSummary"]["numTotalResults"] == 228  # all three parts of the lung trial
    one_part = client.post("/api/individuals", headers=auth(fed), json={"query": {
        "requestParameters": {"datasets": {"datasetIds": ["nl:lung"]}}}}).json()
    assert set(one_part["info"]["nodes"]) == {"nl"}
    assert 0 < one_part["responseSummary"]["numTotalResults"] < 228


def test_public_callers_learn_only_whether_it_exists(client):
    body = client.get("/api/individuals").json()
    check_answer(body, "individuals")
    assert body["meta"]["returnedGranularity"] == "boolean" and body["responseSummary"] == {"exists": True}
    assert "atLeast" not in body["info"] and "numTotalResults" not in json.dumps(body)


def test_the_egfr_variant_is_found_by_sequence_range_and_gene_across_the_network(client, fed):
    for params in (EGFR_SEQUENCE,
                   {"assemblyId": "GRCh37", "referenceName": "7", "start": "55083000", "end": "55084000"},
                   {"geneId": "EGFR"}):
        body = client.get("/api/g_variants", params=params, headers=auth(fed)).json()
        check_answer(body, "g_variants")
        assert body["responseSummary"]["exists"] is True, params
        assert body["info"]["nodes"]["de"]["status"] == "ok"
    elsewhere = client.get("/api/g_variants", params=EGFR_SEQUENCE | {"alternateBases": "G"}, headers=auth(fed))
    assert elsewhere.json()["responseSummary"]["exists"] is False


def test_a_small_count_at_one_node_makes_the_network_answer_boolean(client, fed):
    # one individual carries the EGFR variant: 1 < min_cell, so no node and no total shows it
    response = client.get("/api/individuals", params=EGFR_SEQUENCE, headers=auth(fed))
    body = response.json()
    check_answer(body, "individuals")
    assert body["meta"]["returnedGranularity"] == "boolean"
    assert body["responseSummary"] == {"exists": True}
    assert body["info"]["nodes"]["de"]["granularity"] == "boolean"
    assert not re.search(r'"(numTotalResults|atLeast|resultsCount)":\s*[1-4]\b', response.text)


def test_clinical_and_variant_criteria_combine_in_one_network_query(client, fed):
    both = client.get("/api/individuals", params={"geneId": "EGFR", "filters": "NCIT:C3262"},
                      headers=auth(fed)).json()
    check_answer(both, "individuals")
    assert "exists" in both["responseSummary"]


def test_an_unknown_filter_term_is_a_beacon_error_naming_it(client, fed):
    response = client.get("/api/individuals", params={"filters": "NCIT:C9999999"}, headers=auth(fed))
    assert response.status_code == 400
    body = response.json()
    check_answer(body, "individuals")
    assert "NCIT:C9999999" in body["error"]["errorMessage"] and "filtering_terms" in body["error"]["errorMessage"]


def test_a_malformed_request_is_refused_at_the_hub_naming_the_field(client, fed):
    response = client.get("/api/g_variants", params={"start": "ten"}, headers=auth(fed))
    assert response.status_code == 400 and "start" in response.json()["error"]["errorMessage"]


def test_a_bad_token_is_a_401_beacon_error(client):
    response = client.get("/api/individuals", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    check_answer(response.json(), "individuals")


def test_the_network_filtering_terms_are_the_union_of_the_nodes(client, fed):
    body = client.get("/api/filtering_terms").json()
    check(body, DOCUMENTS["filtering_terms"])
    ids = {t["id"] for t in body["response"]["filteringTerms"]}
    assert {"GENO:0000135", "ATC:L01BC02"} <= ids  # a zygosity of de's VCF calls, fluorouracil of fr's colon trial
    assert len(ids) == len(body["response"]["filteringTerms"])  # each term once


def test_datasets_are_named_by_node_and_dataset(client, fed):
    body = client.get("/api/datasets").json()
    check_answer(body, "datasets")
    names = {c["id"] for c in body["response"]["collections"]}
    assert {"de:gbsg2", "de:lung", "de:hcc1187", "nl:lung", "fr:lung", "fr:colon"} <= names
    one = client.get("/api/datasets/fr:colon").json()
    assert [c["id"] for c in one["response"]["collections"]] == ["fr:colon"]


def test_a_paused_node_is_reported_as_timed_out_and_does_not_fail_the_answer(client, fed):
    fed.pause_node("fr")
    try:
        body = client.get("/api/individuals", headers=auth(fed)).json()
    finally:
        fed.resume_node("fr")
    check_answer(body, "individuals")
    assert body["info"]["nodes"]["fr"]["status"] == "timed out"
    assert body["info"]["nodes"]["de"]["status"] == "ok" and body["responseSummary"]["exists"] is True
