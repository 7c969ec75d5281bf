"""The catalogue end to end: a real hub and real node processes (direct and relay) holding the
demo cohorts; harvested at start-up, again on a schedule and on demand, each harvest replacing
what a node lists; a node that goes down shows as stale. Then the harvester in process, over
the transport seam: hub processes sharing a database share the schedule, and overlapping
harvests keep the latest answer."""

import asyncio
import contextlib
import json
import os
import re
import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest
import yaml

from conftest import DATA, database

from oncofed.catalogue import description
from oncofed.catalogue.description import DatasetDescription
from oncofed.hub import home as hub_home
from oncofed.hub.catalogue import Harvester, catalogue_nodes, stored
from oncofed.hub.store import HubStore, now
from oncofed.node import home as node_home
from oncofed.node.handler import Node
from oncofed.testing import LocalFederation

LUNG, LUNG_MAP = DATA / "ncctg-lung/lung.csv", DATA / "ncctg-lung/mapping.yaml"
DEADLINE_S = 60  # generous: a failure is a harvest that never comes, not a slow one


@contextlib.contextmanager
def schedule(seconds: str):
    """The hub processes started inside harvest every ``seconds`` (they inherit the variable)."""
    before = os.environ.get("ONCOFED_CATALOGUE_HARVEST_S")
    os.environ["ONCOFED_CATALOGUE_HARVEST_S"] = seconds
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("ONCOFED_CATALOGUE_HARVEST_S")
        else:
            os.environ["ONCOFED_CATALOGUE_HARVEST_S"] = before


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fed(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"catalogue-{request.param}")
    with schedule("2"):
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


def harvest(lf, **body) -> dict:
    response = httpx.post(f"{lf.hub_url}/api/catalogue/harvest", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {lf.token}"})
    assert response.status_code == 200, response.text
    return response.json()["nodes"]


def eventually(check, failure: str):
    """Wait for ``check()`` to hold, as long as DEADLINE_S, asserting nothing about how soon."""
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, failure
        time.sleep(0.2)


def test_the_hub_harvests_every_node_at_start_up_over_direct_and_relay(fed):
    eventually(lambda: fed.federation.datasets().attrs["total"] == 4, "no harvest at start-up")
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


# a federation that changes while it serves -------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def changing(request, tmp_path_factory):
    """Node "be" (direct) holds the lung trial in two datasets, node "pt" (relay) in one; the
    hub harvests every second, so every change below reaches it by the schedule alone, unless
    a test harvests on demand."""
    folder = tmp_path_factory.mktemp(f"catalogue-changing-{request.param}")
    with schedule("1"), database(request.param, folder) as db, LocalFederation(folder, db=db) as lf:
        lf.add_node("be", country="BE") \
            .add_dataset("lung-early", LUNG, mapping=LUNG_MAP, where="TRY_CAST(inst AS DOUBLE) <= 7",
                         title="NCCTG lung trial, institutions 1 to 7") \
            .add_dataset("lung-late", LUNG, mapping=LUNG_MAP, where="TRY_CAST(inst AS DOUBLE) BETWEEN 10 AND 13",
                         title="NCCTG lung trial, institutions 10 to 13")
        lf.add_node("pt", country="PT", transport="relay").add_dataset(
            "lung", LUNG, mapping=LUNG_MAP, where="inst IS NULL OR TRY_CAST(inst AS DOUBLE) >= 15",
            title="NCCTG lung trial, institutions 15 and above")
        lf.start()
        eventually(lambda: lf.federation.datasets().attrs["total"] == 3, "no harvest at start-up")
        yield lf


def describe(cli, lf, node: str, dataset: str, title: str) -> None:
    """The steward retitles a dataset while the node serves (through its door)."""
    meta = lf.workdir / f"{node}-{dataset}.yaml"
    meta.write_text(yaml.safe_dump({"title": title}))
    cli("node", "describe", lf.nodes[node].home.path, dataset, "--file", meta)


def titles(lf, **query) -> dict[str, str]:
    """What the hub's search finds: dataset id → title."""
    found = lf.federation.datasets(per_page=200, **query)
    return dict(zip(found.index, found["title"]))


def test_the_schedule_harvests_again_and_finds_what_changed_at_direct_and_relay_nodes(changing, cli):
    # after the start-up harvest (the fixture waited for it), only a later scheduled one can bring these
    describe(cli, changing, "be", "lung-early", "Lung trial retitled after start-up, direct")
    describe(cli, changing, "pt", "lung", "Lung trial retitled after start-up, relay")
    eventually(lambda: set(titles(changing, q="retitled after start-up")) == {"be/lung-early", "pt/lung"},
               "the schedule did not harvest again after start-up")
    found = titles(changing)
    assert found["be/lung-early"] == "Lung trial retitled after start-up, direct"
    assert found["pt/lung"] == "Lung trial retitled after start-up, relay"


def test_a_harvest_on_demand_replaces_what_a_node_lists_never_merges(changing, cli):
    # a title changes: the hub knows the new one only (the schedule may bring it first; either way)
    for title in ("Relay cohort, first title", "Relay cohort, second title"):
        describe(cli, changing, "pt", "lung", title)
        assert harvest(changing, nodes=["pt"]) == {"pt": {"status": "ok", "datasets": 1}}
        assert titles(changing, q="relay cohort") == {"pt/lung": title}
    assert titles(changing, q="first title") == {}

    # a dataset goes (the node has no command for that: its steward rebuilds the store without it)
    changing.kill_node("be")
    home = changing.nodes["be"].home
    for f in home.path.glob(home.store_path.name + "*"):  # the store and its write-ahead log
        f.unlink()
    cli("node", "add-dataset", home.path, "lung-early", "--title", "NCCTG lung trial, institutions 1 to 7")
    cli("node", "ingest", home.path, LUNG, "--dataset", "lung-early", "--format", "csv", "--mapping", LUNG_MAP,
        "--where", "TRY_CAST(inst AS DOUBLE) <= 7")
    changing.start_node("be")
    assert harvest(changing, nodes=["be"]) == {"be": {"status": "ok", "datasets": 1}}
    assert sorted(titles(changing)) == ["be/lung-early", "pt/lung"]
    assert titles(changing, q="institutions 10 to 13") == {}
    assert httpx.get(f"{changing.hub_url}/api/catalogue/datasets/be/lung-late").status_code == 404
    kept = httpx.get(f"{changing.hub_url}/api/catalogue/nodes/be").text
    assert "/dataset/lung-early>" in kept and "lung-late" not in kept


# the harvester in process, over the transport seam ---------------------------------------------


class InProcess:
    """A transport that hands each request to a node object in this process; while ``held`` is
    set, answers wait there, as over a slow network."""

    def __init__(self, nodes: dict[str, Node]):
        self.nodes = nodes
        self.asked: Counter[str] = Counter()
        self.answered = asyncio.Event()
        self.held: asyncio.Event | None = None  # released by setting it

    async def exchange(self, node, envelope: dict, timeout: float) -> dict:
        self.asked[node.id] += 1
        answer = await asyncio.to_thread(self.nodes[node.id].handle, envelope)
        self.answered.set()
        if self.held is not None:
            await self.held.wait()
        return answer


@pytest.fixture
def in_process(hub_db, tmp_path):
    """A hub's home and two nodes "one" and "two", each with a dataset "ds", registered; the
    nodes answer in this process."""
    hub = hub_home.init(tmp_path / "hub", "Test hub", "test-hub", hub_db)
    store = HubStore(hub_db)
    nodes = {}
    for name in ("one", "two"):
        home = node_home.init(tmp_path / name, name, "DE", name)
        home = home.save(home.config.model_copy(update={
            "hub": node_home.HubTrust(id=hub.config.id, public_key=hub.public_key)}))
        with home.store() as s:
            s.add_dataset("ds", f"Dataset of node {name}")
        nodes[name] = Node.open(home)
        store.add_node(name, name, "DE", "direct", home.public_key, url=f"http://{name}.invalid")
    yield hub, nodes
    for n in nodes.values():
        n.close()
    store.dispose()


def test_a_hub_process_skips_the_schedule_while_another_harvested_every_node_in_the_interval(in_process, hub_db):
    hub, nodes = in_process
    stores = [HubStore(hub_db), HubStore(hub_db)]  # two hub processes, one database
    mine, theirs = InProcess(nodes), InProcess(nodes)
    me, other = Harvester(stores[0], hub, {"direct": mine}), Harvester(stores[1], hub, {"direct": theirs})

    async def scenario():
        assert await me.scheduled(3600) == 3600 and mine.asked == {"one": 1, "two": 1}  # never harvested: due
        wait = await other.scheduled(3600)
        assert 3000 < wait <= 3600 and theirs.asked == {}  # the other process harvested just now
        # an hour on (as the database records it), the other process harvests one node on demand:
        # the schedule is still due for the node nobody harvested since
        with stores[0].engine.begin() as c:
            c.execute(catalogue_nodes.update().values(attempted_at=now() - timedelta(hours=1, seconds=1)))
        await other.harvest(["one"])
        assert await me.scheduled(3600) == 3600 and mine.asked == {"one": 2, "two": 2}
        assert 3000 < await other.scheduled(3600) <= 3600

    try:
        asyncio.run(scenario())
    finally:
        for s in stores:
            s.dispose()


def test_a_slow_harvest_never_brings_back_an_older_catalogue(in_process, hub_db):
    hub, nodes = in_process
    stores = [HubStore(hub_db), HubStore(hub_db)]
    slow, quick = InProcess(nodes), InProcess(nodes)
    slow.held = asyncio.Event()

    async def scenario():
        late = asyncio.create_task(Harvester(stores[0], hub, {"direct": slow}).harvest(["one"]))
        await slow.answered.wait()  # node one has answered with its old title; the answer is on its way
        with nodes["one"].store() as s:  # its steward retitles the dataset
            description.save(s.con, "ds", DatasetDescription(title="The new title"))
        assert (await Harvester(stores[1], hub, {"direct": quick}).harvest(["one"]))["one"]["status"] == "ok"
        slow.held.set()
        assert (await late)["one"]["status"] == "ok"  # it answered, but a later answer is kept

    try:
        asyncio.run(scenario())
        [(record, status, _)] = stored(stores[0].engine, "one/ds")
        assert record["title"] == "The new title" and status == "ok"
    finally:
        for s in stores:
            s.dispose()
