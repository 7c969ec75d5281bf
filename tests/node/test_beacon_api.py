"""The node's Beacon v2 over HTTP, on a real node app with real data (GBSG-2, NCCTG lung, the
HCC1187 VCF): every URL of /map answers a plain GET and a POST, every answer validates against
the official schemas at every granularity, and errors are Beacon errors with a 4xx."""

import re

import pytest
from fastapi.testclient import TestClient

from beacon.conformance import DOCUMENTS, check, check_answer, map_urls as urls
from beacon.nodes import EGFR_SOMATIC, HUB, build, expired_token
from oncofed.beacon.request import parse_get
from oncofed.node import audit, beacon
from oncofed.node.app import MAX_BODY, create_app
from oncofed.node.beacon import Caller

BASE = "http://node.test"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    return build(tmp_path_factory.mktemp("beacon-api"))


@pytest.fixture(scope="module")
def client(node):
    with TestClient(create_app(node.home), base_url=BASE) as c:
        yield c


@pytest.fixture(scope="module")
def ids(node):
    """A real id of each entry type, for the {id} routes."""
    with node.home.store() as store:
        biosample = store.con.execute("SELECT id FROM biosamples WHERE tumour_normal = 'tumour'").fetchall()[0][0]
    return {"individual": node.pseudonym("hcc1187", "HCC1187"), "biosample": biosample,
            "genomicVariant": EGFR_SOMATIC, "dataset": "hcc1187", "cohort": "hcc1187"}


def auth(node, subject="alice"):
    return {"Authorization": f"Bearer {node.token(subject)}"}


def test_the_map_covers_every_entry_type_and_route(client, ids):
    found = urls(client, ids)
    assert all(u.startswith(f"{BASE}/api/") for u, _ in found)
    assert len(found) == 5 * 2 + 2 + 9  # root and {id} of five types, two filtering-terms URLs, nine lookups


@pytest.mark.parametrize("caller", ["public", "registered"])
def test_every_map_url_answers_a_plain_get_and_a_post_valid_at_its_granularity(client, node, ids, caller):
    headers = auth(node, f"map-{caller}") if caller == "registered" else {}
    seen = set()
    for url, entry in urls(client, ids):
        for response in (client.get(url, headers=headers), client.post(url, headers=headers, json={})):
            assert response.status_code == 200, (url, response.text)
            body = response.json()
            seen.add(check_answer(body, entry))
            assert body["meta"]["returnedGranularity"] in ("boolean", "count", "record")
    # records of people are never released over HTTP: record level needs a visa
    assert seen == ({"boolean", "record"} if caller == "public" else {"boolean", "count", "record"})


def test_every_map_route_at_record_level_validates_for_controlled_access(client, node, ids):
    """No HTTP caller reaches controlled access before visas do: the handler is asked directly."""
    info = beacon.beacon_info(node.home, f"{BASE}/api")
    query = parse_get([("requestedGranularity", "record"), ("limit", "5")])
    with node.home.store() as store:
        for url, entry in urls(client, ids):
            route = beacon.route_of(url.removeprefix(f"{BASE}/api"))
            reply = beacon.answer(store.con, info, route, query, Caller("controlled", f"{HUB}:dac"),
                                  node.home.config.guard)
            granularity = check_answer(reply.body, entry)
            if entry != "filtering_terms":  # a document about the Beacon, not an answer about records
                assert reply.status == 200 and granularity == "record", url
                assert reply.body["responseSummary"]["exists"], url


def test_no_http_caller_gets_records(client, node):
    for headers in ({}, auth(node, "records")):
        body = client.get("/api/individuals?requestedGranularity=record", headers=headers).json()
        assert body["meta"]["returnedGranularity"] != "record" and "response" not in body


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/info", "/api/service-info", "/api/map",
                                  "/api/configuration", "/api/entry_types", "/api/filtering_terms"])
def test_informational_documents_validate(client, path):
    response = client.get(path)
    assert response.status_code == 200
    name = path.removeprefix("/api").strip("/") or "info"
    check(response.json(), DOCUMENTS[name])


def test_filtering_terms_list_the_stored_terms_with_labels(client):
    terms = {t["id"]: t for t in client.get("/api/filtering_terms").json()["response"]["filteringTerms"]}
    assert terms["NCIT:C4194"]["label"] == "Invasive Ductal Carcinoma, Not Otherwise Specified"
    assert terms["SO:0001483"]["scopes"] == ["genomicVariation"]
    assert {"age", "oncofed:origin:somatic", "oncofed:has:variants"} <= set(terms)
    lung = client.get("/api/datasets/lung/filtering_terms").json()["response"]["filteringTerms"]
    assert "NCIT:C4878" in {t["id"] for t in lung} and "NCIT:C4872" not in {t["id"] for t in lung}


def test_a_query_on_breast_carcinoma_finds_the_stored_subtype(client, node):
    body = client.get("/api/individuals?filters=NCIT:C4872", headers=auth(node, "subtype")).json()
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 687}  # 686 GBSG-2 and HCC1187
    single = client.get("/api/datasets/hcc1187/individuals?filters=NCIT:C4872").json()
    assert single["responseSummary"] == {"exists": True}


def test_clinical_and_variant_criteria_combine_in_one_query(client, node):
    # breast carcinoma AND an EGFR variant AND age < 50: one individual, so only whether there is one
    params = {"filters": "NCIT:C4872,age<50", "geneId": "EGFR"}
    body = client.get("/api/individuals", params=params, headers=auth(node, "combined")).json()
    assert body["responseSummary"] == {"exists": True} and body["meta"]["returnedGranularity"] == "boolean"
    # the EGFR variants seen in such a patient: enough to count
    variants = client.get("/api/g_variants", params=params, headers=auth(node, "combined")).json()
    assert variants["meta"]["returnedGranularity"] == "count" and variants["responseSummary"]["numTotalResults"] > 5
    post = {"meta": {"apiVersion": "v2.0"}, "query": {
        "filters": [{"id": "NCIT:C4872"}, {"id": "age", "operator": "<", "value": "50"}],
        "requestParameters": {"g_variant": {"geneId": "EGFR"}}}}
    assert client.post("/api/g_variants", json=post, headers=auth(node, "combined")).json()["responseSummary"] == \
        variants["responseSummary"]
    older = client.get("/api/individuals", params={**params, "filters": "NCIT:C4872,age>=50"}).json()
    assert older["responseSummary"] == {"exists": False}


@pytest.mark.parametrize("params", [
    {"referenceName": "7", "start": "55083587", "referenceBases": "C", "alternateBases": "T"},  # sequence
    {"referenceName": "chr7", "start": "55083587", "end": "55083588"},  # range
    {"referenceName": "NC_000007.13", "start": "55083587,55083588", "end": "55083588,55083589"},  # bracket
    {"geneId": "EGFR", "filters": "oncofed:origin:somatic", "assemblyId": "hg19"},  # gene
])
def test_the_known_somatic_egfr_variant_is_found(client, params):
    body = client.get("/api/g_variants", params={**params, "requestedGranularity": "boolean"}).json()
    assert body["responseSummary"] == {"exists": True}
    if "start" in params and "end" not in params:
        miss = client.get("/api/g_variants", params={**params, "alternateBases": "G"}).json()
        assert miss["responseSummary"] == {"exists": False}


def test_pagination_of_collections(client):
    everything = client.get("/api/datasets").json()
    assert [d["id"] for d in everything["response"]["collections"]] == ["gbsg2", "hcc1187", "lung"]
    page = client.get("/api/datasets?limit=1&skip=1").json()
    assert [d["id"] for d in page["response"]["collections"]] == ["hcc1187"]
    assert page["responseSummary"]["numTotalResults"] == 3


@pytest.mark.parametrize("headers, message", [
    ({"Authorization": "Bearer not-a-token"}, "the token is malformed"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "expected 'Bearer <researcher token>'"),
])
def test_a_bad_token_is_a_401_beacon_error(client, headers, message):
    response = client.get("/api/individuals", headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    check_answer(response.json(), "individuals")
    assert message in response.json()["error"]["errorMessage"]


def test_an_expired_token_is_a_401_and_is_audited(client, node):
    with node.home.store() as store:
        before = audit.head(store.con)[0]
    response = client.get("/api/individuals", headers={"Authorization": f"Bearer {expired_token(node)}"})
    assert response.status_code == 401 and "expired" in response.json()["error"]["errorMessage"]
    with node.home.store() as store:
        (entry,) = audit.entries(store.con, after=before)
    assert (entry.kind, entry.outcome, entry.requester) == ("beacon", "refused", None)


@pytest.mark.parametrize("method, path, kw, status, message", [
    ("get", "/api/individuals?filters=NCIT:C0000000", {}, 400,
     "filters: unknown filter term 'NCIT:C0000000'; see /filtering_terms"),
    ("get", "/api/g_variants?start=100", {}, 400, "referenceName: needed with start"),
    ("get", "/api/individuals?colour=red", {}, 400, "colour: unknown query parameter"),
    ("post", "/api/individuals", {"content": b"{not json"}, 400, "body: not JSON"),
    ("post", "/api/individuals", {"json": {"query": {"pagination": {"limit": -1}}}}, 400,
     "query.pagination.limit: expected a whole number"),
    ("get", "/api/runs", {}, 404, "no Beacon endpoint /runs; /map lists them all"),
    ("get", "/api/individuals/x/runs", {}, 404, "no Beacon endpoint"),
    ("get", "/api/datasets/nowhere/individuals", {}, 404, "no dataset 'nowhere'"),
])
def test_errors_are_beacon_errors_naming_the_problem(client, method, path, kw, status, message):
    response = getattr(client, method)(path, **kw)
    assert response.status_code == status
    body = response.json()
    check_answer(body, "individuals")
    assert body["error"]["errorCode"] == status and message in body["error"]["errorMessage"]


def test_an_unknown_record_id_is_an_answer_not_an_error(client):
    body = client.get("/api/individuals/no-such-person").json()
    assert body["responseSummary"] == {"exists": False}


def test_an_oversized_body_is_refused_with_a_413(client):
    response = client.post("/api/individuals", content=b"{" + b" " * MAX_BODY + b"}",
                           headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_http_requests_are_audited_with_the_researcher(client, node):
    with node.home.store() as store:
        before = audit.head(store.con)[0]
    client.get("/api/biosamples", headers=auth(node, "audited"))
    with node.home.store() as store:
        (entry,) = audit.entries(store.con, after=before)
    assert (entry.requester, entry.outcome, entry.released) == (
        f"{HUB}:audited", "released", {"route": "/biosamples", "granularity": "boolean", "withheld": "count"})
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", entry.request_digest)
