"""The node's Beacon handler as a pure function over a real node store: granularity per dataset
and access level, the guard on counts, the differencing guard, test mode, the audit log, record
level (controlled access only) and the envelope path the hub uses."""

import pytest

from beacon.conformance import check_answer
from beacon.nodes import EGFR_SOMATIC, HUB, build
from oncofed.auth import envelope
from oncofed.beacon.request import parse_body, parse_get
from oncofed.errors import OncofedError
from oncofed.node import audit, beacon
from oncofed.node.beacon import Caller
from oncofed.node.handler import Node
from oncofed.privacy.policy import GuardPolicy


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    return build(tmp_path_factory.mktemp("beacon"))


@pytest.fixture
def con(node):
    with node.home.store() as store:
        yield store.con


def ask(con, node, path, *params, level="registered", who="alice", policy=None, body=None):
    """The reply to a request, checked against the official schemas as the verifiers would."""
    info = beacon.beacon_info(node.home, "http://node.test/api")
    query = parse_body(body) if body is not None else parse_get(list(params))
    caller = Caller(level, None if level == "public" else node.requester(who))
    reply = beacon.answer(con, info, beacon.route_of(path), query, caller, policy or node.home.config.guard)
    check_answer(reply.body, beacon.route_of(path).target)
    return reply


def summary(reply):
    """(returned granularity, responseSummary) of a reply or a response document."""
    body = reply if isinstance(reply, dict) else reply.body
    return body["meta"]["returnedGranularity"], body["responseSummary"]


def test_public_callers_learn_whether_registered_ones_how_many(con, node):
    assert summary(ask(con, node, "/individuals", ("filters", "NCIT:C4872"), level="public")) == \
        ("boolean", {"exists": True})
    # 686 GBSG-2 women and HCC1187, whose invasive ductal carcinoma is a breast carcinoma
    assert summary(ask(con, node, "/individuals", ("filters", "NCIT:C4872"), who="p1")) == \
        ("count", {"exists": True, "numTotalResults": 687})
    assert summary(ask(con, node, "/individuals", ("filters", "NCIT:C4872"), ("requestedGranularity", "boolean"),
                       who="p1")) == ("boolean", {"exists": True})


def test_small_counts_are_never_shown(con, node):
    reply = ask(con, node, "/individuals", ("filters", "NCIT:C4872,age<50"), ("geneId", "EGFR"), who="p2")
    assert summary(reply) == ("boolean", {"exists": True})
    assert "below this node's minimum of 5" in reply.body["info"]["granularity"]["reason"]
    assert summary(ask(con, node, "/individuals", ("filters", "NCIT:C4917"), who="p2")) == \
        ("count", {"exists": False, "numTotalResults": 0})  # nobody: 0 discloses no one
    last = audit.entries(con, last=2)
    assert [e.released for e in last] == [
        {"route": "/individuals", "granularity": "boolean", "withheld": "count"},
        {"route": "/individuals", "granularity": "count"}]  # the log never holds a count


@pytest.mark.parametrize("below, n", [(41, 1), (42, 2), (43, 3), (44, 4), (45, 5)])
def test_a_count_of_1_to_4_is_withheld_and_5_is_shown(con, node, below, n):
    # the synthetic dataset's ten people are 40 … 49 years old
    reply = ask(con, node, "/individuals", ("filters", f"age<{below}"), ("testMode", "true"), who=f"small{n}")
    assert summary(reply) == (("count", {"exists": True, "numTotalResults": 5}) if n == 5
                              else ("boolean", {"exists": True}))


def test_counts_are_rounded_when_the_policy_rounds(con, node):
    reply = ask(con, node, "/individuals", ("filters", "NCIT:C4872"), who="p3", policy=GuardPolicy(count_rounding=10))
    assert reply.body["responseSummary"]["numTotalResults"] == 690


def test_two_counts_that_differ_by_a_few_people_are_not_both_released(con, node):
    assert summary(ask(con, node, "/individuals", ("filters", "NCIT:C4872"), who="p4"))[0] == "count"  # 687
    reply = ask(con, node, "/datasets/gbsg2/individuals", ("filters", "NCIT:C4872"), who="p4")  # 686: one fewer
    assert summary(reply) == ("boolean", {"exists": True})
    assert "differencing guard" in reply.body["info"]["granularity"]["reason"]
    # another researcher has not seen the first count
    assert summary(ask(con, node, "/datasets/gbsg2/individuals", ("filters", "NCIT:C4872"), who="p5"))[0] == "count"


def test_the_coarsest_ceiling_of_the_datasets_an_answer_covers_governs_it(con, node):
    beacon.set_access(con, "gbsg2", registered="boolean")
    try:
        assert summary(ask(con, node, "/individuals", who="p6"))[0] == "boolean"
        assert summary(ask(con, node, "/datasets/lung/individuals", who="p6")) == \
            ("count", {"exists": True, "numTotalResults": 228})
        body = {"query": {"requestParameters": {"datasets": {"datasetIds": ["lung", "hcc1187", "elsewhere"]}}}}
        assert summary(ask(con, node, "/individuals", body=body, who="p7")) == \
            ("count", {"exists": True, "numTotalResults": 229})
        cohorts = ask(con, node, "/cohorts", who="p6").body["response"]["collections"]
        assert {c["id"]: c.get("cohortSize") for c in cohorts} == {"gbsg2": None, "hcc1187": None, "lung": 228}
    finally:
        beacon.set_access(con, "gbsg2", registered="count")
    beacon.set_access(con, "lung", public="count")
    try:
        assert summary(ask(con, node, "/datasets/lung/individuals", level="public"))[0] == "count"
        assert summary(ask(con, node, "/individuals", level="public"))[0] == "boolean"
    finally:
        beacon.set_access(con, "lung", public="boolean")


def test_record_level_is_for_controlled_access_only(con, node):
    wanted = ("requestedGranularity", "record")
    assert summary(ask(con, node, "/individuals", wanted, who="p8"))[0] == "count"
    reply = ask(con, node, "/individuals", ("filters", "NCIT:C4194"), wanted, level="controlled")
    assert summary(reply) == ("record", {"exists": True, "numTotalResults": 1})
    (result_set,) = reply.body["response"]["resultSets"]
    (record,) = result_set["results"]
    assert (result_set["id"], record["id"]) == ("hcc1187", node.pseudonym("hcc1187", "HCC1187"))
    assert record["diseases"][0]["diseaseCode"]["id"] == "NCIT:C4194"
    for level in ("public", "registered"):
        with pytest.raises(OncofedError, match="record level needs a visa"):
            beacon.set_access(con, "lung", **{level: "record"})
    with pytest.raises(OncofedError, match="public ≤ registered ≤ controlled"):
        beacon.set_access(con, "lung", public="count", registered="boolean")


def test_record_pages_and_resultset_inclusion(con, node):
    params = [("requestedGranularity", "record"), ("limit", "3")]
    first = ask(con, node, "/individuals", *params, level="controlled").body
    second = ask(con, node, "/individuals", *params, ("skip", "1"), level="controlled").body
    ids = [r["id"] for rs in first["response"]["resultSets"] for r in rs["results"]]
    later = [r["id"] for rs in second["response"]["resultSets"] for r in rs["results"]]
    assert len(ids) == len(later) == 3 and not set(ids) & set(later)
    assert first["responseSummary"]["numTotalResults"] == 686 + 228 + 1
    # every dataset with hits is listed with its total; the page's records sit in theirs
    assert {rs["id"]: (rs["resultsCount"], len(rs["results"])) for rs in first["response"]["resultSets"]} == \
        {"gbsg2": (686, 3), "hcc1187": (1, 0), "lung": (228, 0)}
    everything = ask(con, node, "/datasets/lung/individuals", ("filters", "NCIT:C4872"), *params,
                     ("includeResultsetResponses", "ALL"), level="controlled").body
    assert everything["response"]["resultSets"] == [{"id": "lung", "setType": "dataset", "exists": False,
                                                     "resultsCount": 0, "results": []}]


def test_variant_records_carry_their_calls(con, node):
    reply = ask(con, node, f"/g_variants/{EGFR_SOMATIC}", ("requestedGranularity", "record"), level="controlled")
    (record,) = reply.body["response"]["resultSets"][0]["results"]
    assert record["variantInternalId"] == EGFR_SOMATIC
    assert record["variation"]["location"]["interval"]["start"]["value"] == 55083587
    assert [c["alleleOrigin"]["label"] for c in record["caseLevelData"]] == ["somatic_variant"]
    assert record["caseLevelData"][0]["biosampleId"] == node.pseudonym("hcc1187/biosample", "HCC1187-T1")


def test_test_mode_answers_from_synthetic_datasets_only(con, node):
    real = ask(con, node, "/individuals", who="p9")
    test = ask(con, node, "/individuals", ("testMode", "true"), who="p9")
    assert real.body["responseSummary"]["numTotalResults"] == 686 + 228 + 1
    assert test.body["responseSummary"]["numTotalResults"] == 10
    assert test.body["meta"]["testMode"] is True and test.datasets == {"synthetic": test.datasets["synthetic"]}
    assert [d["id"] for d in ask(con, node, "/datasets", ("testMode", "true")).body["response"]["collections"]] == \
        ["synthetic"]


def test_every_request_is_audited_and_a_refusal_says_why(con, node):
    before = audit.head(con)[0]
    ask(con, node, "/individuals", ("filters", "NCIT:C0000000"), who="p10")
    ask(con, node, "/datasets/nowhere/individuals", who="p10")
    ask(con, node, "/filtering_terms", level="public")
    logged = audit.entries(con, after=before)
    assert [(e.kind, e.outcome, e.requester) for e in logged] == [
        ("beacon", "refused", f"{HUB}:p10"), ("beacon", "refused", f"{HUB}:p10"), ("beacon", "released", None)]
    assert "unknown filter term 'NCIT:C0000000'" in logged[0].reason
    assert "no dataset 'nowhere'" in logged[1].reason
    assert set(logged[2].datasets) == {"gbsg2", "hcc1187", "lung"}
    assert audit.verify(con) == []


def test_errors_are_beacon_errors_with_the_right_status(con, node):
    assert ask(con, node, "/individuals", ("filters", "NCIT:C0000000")).status == 400
    reply = ask(con, node, "/cohorts/nowhere")
    assert (reply.status, reply.body["error"]["errorCode"]) == (404, 404)
    with pytest.raises(beacon.BeaconError, match="no Beacon endpoint /individuals/x/runs"):
        beacon.route_of("/individuals/x/runs")


def test_the_hub_asks_over_the_envelope_at_the_registered_level(node, tmp_path):
    n = Node.open(node.home)
    try:
        def sealed(body):
            answer = n.handle(envelope.seal(body, HUB, node.home.id, node.hub_key))
            return answer["body"]

        query = parse_get([("filters", "NCIT:C4872"), ("requestedGranularity", "record")]).to_body()
        got = sealed({"kind": "beacon", "token": node.token("envelope"), "beacon": {"path": "/individuals",
                                                                                    "query": query}})
        assert got["status"] == "ok" and set(got["datasets"]) == {"gbsg2", "hcc1187", "lung"}
        assert summary(got["beacon"]) == ("count", {"exists": True, "numTotalResults": 687})
        check_answer(got["beacon"], "individuals")
        refused = sealed({"kind": "beacon", "token": "not a token", "beacon": {"path": "/individuals"}})
        assert refused["status"] == "refused" and "malformed" in refused["reason"]
        assert refused["beacon"]["error"]["errorCode"] == 401
        bad = sealed({"kind": "beacon", "token": node.token(), "beacon": {"path": "/runs"}})
        assert (bad["status"], bad["beacon"]["error"]["errorCode"]) == ("refused", 404)
        info = sealed({"kind": "beacon", "token": node.token(), "beacon": {"path": "/info"}})
        assert info["beacon"]["response"]["id"] == f"urn:oncofed:node:{node.home.id}"
    finally:
        n.close()
