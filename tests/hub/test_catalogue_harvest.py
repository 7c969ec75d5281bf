"""The catalogue end to end: a real hub and three real node processes (direct and relay) holding
the demo cohorts; harvested on a schedule and on demand; a node that goes down shows as stale."""

import json
import os
import re
import time

import httpx
import pytest

from conftest import DATA, database

from oncofed.testing import LocalFederation

SCHEDULE_S = "2"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fed(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"catalogue-{request.param}")
    before = os.environ.get("ONCOFED_CATALOGUE_HARVEST_S")
    os.environ["ONCOFED_CATALOGUE_HARVEST_S"] = SCHEDULE_S  # the hub process inherits it
    try:
        with database(request.param, folder) as db, LocalFederation(folder, db=db) as lf:
            lf.add_node("de", country="DE").add_dataset("gbsg2", DATA / "gbsg2/gbsg2.csv",
                                                        mapping=DATA / "gbsg2/mapping.yaml")
            lf.add_node("nl", country="NL", transport="relay").add_dataset(
                "rotterdam", DATA / "rotterdam/rotterdam.csv", mapping=DATA / "rotterdam/mapping.yaml")
            lf.add_node("fr", country="FR").add_dataset("colon", DATA / "colon/colon.csv",
                                                        mapping=DATA / "colon/mapping.yaml") \
                .add_dataset("lung", DATA / "ncctg-lung/lung.csv", mapping=DATA / "ncctg-lung/mapping.yaml")
            lf.start()
            yield lf
    finally:
        if before is None:
            os.environ.pop("ONCOFED_CATALOGUE_HARVEST_S")
        else:
            os.environ["ONCOFED_CATALOGUE_HARVEST_S"] = before


def harvest(lf, **body) -> dict:
    response = httpx.post(f"{lf.hub_url}/api/catalogue/harvest", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {lf.token}"})
    assert response.status_code == 200, response.text
    return response.json()["nodes"]


def test_the_schedule_harvests_every_node_over_direct_and_relay(fed):
    deadline = time.monotonic() + 30
    while fed.federation.datasets().attrs["total"] < 4:
        assert time.monotonic() < deadline, "no scheduled harvest"
        time.sleep(0.2)
    found = fed.federation.datasets()
    assert sorted(found.index) == ["de/gbsg2", "fr/colon", "fr/lung", "nl/rotterdam"]
    assert found.loc["nl/rotterdam", "individuals"] == 2982  # through the relay, the node opened no port


def test_search_with_facets_and_pages_over_the_real_cohorts(fed):
    sdk = fed.federation
    breast = sdk.datasets(cancer=["NCIT:C4872"])
    assert sorted(breast.index) == ["de/gbsg2", "nl/rotterdam"]
    assert {v["value"]: v["count"] for v in breast.attrs["facets"]["country"]} == {"DE": 1, "NL": 1}
    narrowed = sdk.datasets("tamoxifen", cancer=["NCIT:C2916"], country=["DE"])  # two facets and text
    assert list(narrowed.index) == []  # GBSG-2 is only described by its registration here
    assert list(sdk.datasets(cancer=["NCIT:C2916"], country=["DE"]).index) == ["de/gbsg2"]
    pages = [sdk.datasets(per_page=3, page=p) for p in (1, 2)]
    assert [len(p) for p in pages] == [3, 1] and pages[0].attrs["total"] == 4
    assert sorted([*pages[0].index, *pages[1].index]) == ["de/gbsg2", "fr/colon", "fr/lung", "nl/rotterdam"]
    sizes = {v["value"]: v["count"] for v in sdk.datasets().attrs["facets"]["individuals"]}
    assert sizes["1,000–9,999"] == 1 and sizes["100–999"] == 3  # lung: 228 patients on one node


def test_the_cli_searches_too(fed, cli):
    result = json.loads(cli("catalogue", "search", "--hub", fed.hub_url, "--cancer", "NCIT:C4878", "--json").stdout)
    assert [d["id"] for d in result["datasets"]] == ["fr/lung"] and result["total"] == 1
    table = cli("catalogue", "search", "colon", "--hub", fed.hub_url).stdout
    assert "fr/colon" in table and "Colon Carcinoma (1)" in table


def test_a_dataset_page_embeds_schema_org_json_ld(fed):
    page = httpx.get(f"{fed.hub_url}/catalogue/de/gbsg2")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    embedded = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', page.text, re.S)[1])
    twin = httpx.get(f"{fed.hub_url}/api/catalogue/datasets/de/gbsg2").json()
    assert embedded == twin["schema_org"]
    assert embedded["@type"] == "Dataset" and embedded["@id"] == twin["iri"]
    assert embedded["url"] == f"{fed.hub_url}/catalogue/de/gbsg2"
    assert httpx.get(f"{fed.hub_url}/api/catalogue/datasets/de/nothing").status_code == 404


def test_the_hub_keeps_each_catalogue_as_harvested(fed):
    turtle = httpx.get(f"{fed.hub_url}/api/catalogue/nodes/fr")
    assert turtle.status_code == 200 and turtle.headers["content-type"].startswith("text/turtle")
    port = fed.nodes["fr"].port
    assert f"<http://127.0.0.1:{port}/dataset/colon>" in turtle.text  # a direct node: where the hub calls it
    assert "<urn:oncofed:node:nl/dataset/rotterdam>" in httpx.get(f"{fed.hub_url}/api/catalogue/nodes/nl").text


def test_harvesting_on_demand_needs_a_token_through_the_api_and_works_from_the_cli(fed, cli):
    assert httpx.post(f"{fed.hub_url}/api/catalogue/harvest").status_code == 401
    assert harvest(fed) == {"de": {"status": "ok", "datasets": 1}, "fr": {"status": "ok", "datasets": 2},
                            "nl": {"status": "ok", "datasets": 1}}
    summary = json.loads(cli("hub", "harvest", fed.hub.path, "--db", fed.hub.config.db, "--json").stdout)
    assert {n: s["status"] for n, s in summary.items()} == {"de": "ok", "fr": "ok", "nl": "ok"}


def test_a_node_that_goes_down_shows_as_stale_and_comes_back(fed):
    fed.kill_node("nl")
    outcome = harvest(fed, timeout_s=2)
    assert outcome["nl"]["status"] == "timed out" and outcome["de"]["status"] == "ok"
    found = fed.federation.datasets()
    assert found.loc["nl/rotterdam", "stale"] and found.loc["nl/rotterdam", "stale_since"]
    assert not found.loc["de/gbsg2", "stale"] and not found.loc["fr/colon", "stale"]
    assert len(found) == 4  # kept, not dropped
    status = {n["node_id"]: n for n in httpx.get(f"{fed.hub_url}/api/catalogue/nodes").json()}
    assert status["nl"]["status"] == "stale" and "no answer" in status["nl"]["error"]
    fed.start_node("nl")
    assert harvest(fed, nodes=["nl"])["nl"]["status"] == "ok"
    assert not fed.federation.datasets().loc["nl/rotterdam", "stale"]
