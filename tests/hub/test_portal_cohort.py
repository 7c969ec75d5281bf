"""The cohort builder's form: criteria to the API's requests and back, without a server."""

from urllib.parse import parse_qsl

from oncofed.hub import portal_cohort as pc


def form(query: str) -> pc.Criteria:
    return pc.parse(parse_qsl(query, keep_blank_values=True))


def test_criteria_become_the_count_request_with_typed_values():
    c = form("dataset=ncctg-lung&node=de&v=age&op=>%3D&val=60&v=sex&op=%3D&val=NCIT:C16576"
             "&v=stage&op=in&val=NCIT:C27966,+NCIT:C27970&v=grade&op=is_null&val=&v=&op=%3D&val=")
    assert c.errors == []
    assert c.count_request() == {"analysis": "count", "nodes": ["de"], "cohort": {"datasets": ["ncctg-lung"], "filters": [
        {"variable": "age", "op": ">=", "value": 60}, {"variable": "sex", "op": "=", "value": "NCIT:C16576"},
        {"variable": "stage", "op": "in", "value": ["NCIT:C27966", "NCIT:C27970"]},
        {"variable": "grade", "op": "is_null"}]}}
    assert not c.has_variant
    assert form(c.query()).count_request() == c.count_request()  # the cohort is a link


def test_a_criterion_that_cannot_run_is_kept_and_named():
    c = form("v=age&op=>&val=old&v=nonsense&op=%3D&val=1&v=imaging:CT&op=%3D&val=")
    assert [x.variable for x in c.criteria] == ["age", "nonsense", "imaging:CT"]
    assert len(c.errors) == 3 and "age is a number" in c.errors[0] and "unknown variable 'nonsense'" in c.errors[1]
    assert c.filters == []


def test_variant_criteria_go_to_the_beacon_with_the_criteria_it_can_say():
    c = form("v=age&op=>%3D&val=40&v=diagnosis&op=descendant_of&val=NCIT:C4872&gene=EGFR")
    assert c.has_variant and c.errors == []
    body = c.beacon_request(["nl:hcc1187"])
    assert body["query"]["requestParameters"] == {"datasets": {"datasetIds": ["nl:hcc1187"]},
                                                  "g_variant": {"geneId": "EGFR"}}
    assert body["query"]["filters"] == [{"id": "age", "operator": ">=", "value": 40},
                                        {"id": "NCIT:C4872", "includeDescendantTerms": True}]
    position = form("assembly=GRCh37&chrom=7&pos=55083589&ref=c&alt=t").beacon_request([])
    assert position["query"]["requestParameters"]["g_variant"] == {
        "referenceName": "7", "start": [55083588], "assemblyId": "GRCh37", "referenceBases": "C", "alternateBases": "T"}
    assert form("chrom=7").errors == ["variant: give a gene, or a chromosome and a position"]
    assert "cannot combine" in form("gene=EGFR&v=age&op=is_null&val=").errors[0]


def test_a_withheld_count_is_shown_as_less_than_the_nodes_minimum_cell_never_as_a_number():
    assert pc.shown_count(None, "ok", 5) == "< 5" and pc.shown_count(None, "ok", 10) == "< 10"
    assert pc.shown_count(None, "ok") == "withheld"  # a node that did not say its minimum
    assert pc.shown_count(1234, "ok", 5) == "1,234" and pc.shown_count(0, "ok", 5) == "0"
    assert pc.shown_count(None, "refused", 5) == "–"


def test_a_total_with_withheld_parts_is_shown_by_the_bounds_the_released_parts_give():
    assert pc.withheld_total(0, [10]) == "< 10"  # one node's part and nothing else
    assert pc.withheld_total(50, [5]) == "51–54"  # never "< 5" when others released 50
    assert pc.withheld_total(0, [5, 10]) == "2–13"
    assert pc.withheld_total(7, [5, None]) == "at least 9"


def test_a_count_runs_total_is_the_sum_or_the_bounds_of_its_withheld_parts():
    per_node = {"a": {"status": "ok", "min_cell": 5}, "b": {"status": "ok", "min_cell": 10}, "c": {"status": "refused"}}
    assert pc.count_total({"count": 1234, "at_least": 1234, "suppressed": []}, per_node) == "1,234"
    assert pc.count_total({"count": None, "at_least": 7, "suppressed": ["a"]}, per_node) == "8–11"
    assert pc.count_total({"count": None, "at_least": 0, "suppressed": ["a", "b"]}, per_node) == "2–13"


def test_a_criterion_with_an_unknown_comparison_is_shown_and_named_not_a_crash():
    got = pc.parse([("v", "age"), ("op", "~"), ("val", "60"), ("gene", "KRAS")])
    assert got.criteria[0].shown == "age ~ 60"
    assert any("unknown comparison '~'" in e for e in got.errors)
