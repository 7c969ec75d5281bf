"""The hub's catalogue on both hub databases: a harvest replaces a node's datasets, a missed one
marks them stale; search by text and facets, paged, over the real demo cohorts."""

import pytest
from rdflib import Graph

from oncofed import demo
from oncofed.auth import keys
from oncofed.catalogue import description, formats, records
from oncofed.catalogue.description import DatasetDescription
from oncofed.hub.catalogue import CatalogueStore
from oncofed.hub.catalogue_search import Query, dataset, search
from oncofed.hub.store import HubStore
from oncofed.node import catalogue

# DUO codes per dataset, so that the purpose facet has something to tell apart.
DUO = {"gbsg2": DatasetDescription(duo=["DUO:0000007", "DUO:0000046"], duo_diseases=["NCIT:C4872"]),
       "rotterdam": DatasetDescription(duo=["DUO:0000006"], access_rights="public"),
       "colon": DatasetDescription(duo=["DUO:0000042", "DUO:0000019"], keywords=["levamisole"])}
_turtle: dict = {}


@pytest.fixture(scope="module")
def harvested(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """node id → (country, its catalogue as Turtle), from the demo nodes."""
    if not _turtle:
        for home in demo.build(tmp_path_factory.mktemp("hub-catalogue") / "demo"):
            with home.store() as store:
                for d in store.datasets():
                    if d.id in DUO:
                        description.save(store.con, d.id, DUO[d.id])
                g = catalogue.graph(home, store.con, f"https://{home.id}.example.org")
            _turtle[home.id] = (home.config.country, formats.serialize(g, "turtle"))
    return _turtle


@pytest.fixture
def hub(hub_db, harvested):
    store = HubStore(hub_db)
    cat = CatalogueStore(store)
    for node_id, (country, turtle) in harvested.items():
        node = store.add_node(node_id, node_id, country, "relay", keys.public_b64(keys.generate()))
        cat.replace(node, records.datasets(Graph().parse(data=turtle, format="turtle"), node_id), "base", turtle)
    yield store, cat
    store.dispose()


def ids(engine, **query) -> list[str]:
    """The ids found, sorted (the order of results is tested on its own)."""
    return sorted(d["id"] for d in search(engine, Query(per_page=200, **query))["datasets"])


def facet(result: dict, name: str) -> dict[str, int]:
    return {v["value"]: v["count"] for v in result["facets"][name]}


def test_every_harvested_dataset_is_found_with_its_facts(hub):
    store, _ = hub
    result = search(store.engine, Query())
    assert result["total"] == 7
    gbsg2 = dataset(store.engine, "demo-de/gbsg2")
    assert gbsg2["individuals"] == 686 and gbsg2["cancer_types"] == ["NCIT:C4872"]
    assert gbsg2["stale"] is False and gbsg2["iri"] == "https://demo-de.example.org/dataset/gbsg2"


def test_full_text_needs_every_word(hub):
    store, _ = hub
    assert ids(store.engine, q="breast") == ["demo-de/gbsg2", "demo-nl/hcc1187", "demo-nl/rotterdam"]
    assert ids(store.engine, q="breast tamoxifen") == ["demo-de/gbsg2"]
    assert ids(store.engine, q="LEVAMISOLE") == ["demo-fr/colon"]  # a keyword, any case
    assert ids(store.engine, q="carcinoma colon") == ["demo-fr/colon"]  # a cancer type's label
    assert ids(store.engine, q="100%_") == []


def test_a_cancer_type_finds_its_descendants(hub):
    store, _ = hub
    assert ids(store.engine, cancer=["NCIT:C4872"]) == ["demo-de/gbsg2", "demo-nl/rotterdam"]
    assert len(ids(store.engine, cancer=["NCIT:C2916"])) == 6  # carcinoma: every demo cohort
    assert ids(store.engine, cancer=["NCIT:C2955"]) == ["demo-fr/colon"]  # colorectal ⊃ colon
    assert ids(store.engine, cancer=["NCIT:C4194"]) == []  # narrower than anything held


def test_two_facets_narrow_and_the_facet_counts_describe_the_matches(hub):
    store, _ = hub
    result = search(store.engine, Query(cancer=["NCIT:C4878"], country=["FR"]))
    assert [d["id"] for d in result["datasets"]] == ["demo-fr/ncctg-lung"]
    everything = search(store.engine, Query())
    assert facet(everything, "cancer") == {"NCIT:C4872": 2, "NCIT:C4878": 3, "NCIT:C4910": 1}
    assert facet(everything, "country")["US"] == 4  # the NCCTG trials recruited in the US
    assert facet(everything, "node") == {"demo-de": 2, "demo-nl": 3, "demo-fr": 2}
    assert facet(everything, "access") == {"restricted": 6, "public": 1}
    assert {v["value"]: v["label"] for v in everything["facets"]["cancer"]}["NCIT:C4872"] == "Breast Carcinoma"
    assert facet(search(store.engine, Query(country=["DE"])), "cancer") == {"NCIT:C4872": 1, "NCIT:C4878": 1}


def test_data_type_access_and_size(hub):
    store, _ = hub
    assert ids(store.engine, data_type=["treatments"]) == ["demo-de/gbsg2", "demo-fr/colon", "demo-nl/rotterdam"]
    assert ids(store.engine, access=["public"]) == ["demo-nl/rotterdam"]
    assert ids(store.engine, min_individuals=900) == ["demo-fr/colon", "demo-nl/rotterdam"]
    assert ids(store.engine, min_individuals=600, max_individuals=1000) == ["demo-de/gbsg2", "demo-fr/colon"]
    sizes = facet(search(store.engine, Query()), "individuals")
    assert sizes == {"fewer than 100": 3, "100–999": 2, "1,000–9,999": 1, "10,000 or more": 0}


def test_duo_purpose_compatibility(hub):
    store, _ = hub
    lungs = {"demo-de/ncctg-lung", "demo-fr/ncctg-lung", "demo-nl/ncctg-lung"}  # no restriction
    hcc1187 = {"demo-nl/hcc1187"}  # DUO:0000042, general research use
    assert set(ids(store.engine, purpose="HMB")) == lungs | hcc1187 | {"demo-fr/colon", "demo-nl/rotterdam"}
    assert set(ids(store.engine, purpose="GRU")) == lungs | hcc1187 | {"demo-fr/colon"}
    assert set(ids(store.engine, purpose="DS", purpose_disease=["NCIT:C4194"])) == \
        lungs | hcc1187 | {"demo-fr/colon", "demo-nl/rotterdam", "demo-de/gbsg2"}
    assert "demo-de/gbsg2" not in ids(store.engine, purpose="DS", purpose_disease=["NCIT:C4194"], commercial=True)
    assert "demo-de/gbsg2" not in ids(store.engine, purpose="DS", purpose_disease=["NCIT:C4878"])
    assert facet(search(store.engine, Query()), "purpose") == {"GRU": 5, "HMB": 6, "POA": 5}


def test_pages_are_disjoint_ordered_and_complete(hub):
    store, _ = hub
    pages = [search(store.engine, Query(per_page=4, page=p)) for p in (1, 2, 3)]
    assert [len(p["datasets"]) for p in pages] == [4, 3, 0] and {p["total"] for p in pages} == {7}
    titles = [d["title"] for p in pages for d in p["datasets"]]
    assert titles == sorted(titles) and len({d["id"] for p in pages for d in p["datasets"]}) == 7


def test_a_reharvest_replaces_the_node_s_datasets(hub, harvested):
    store, cat = hub
    graph = Graph().parse(data=harvested["demo-de"][1], format="turtle")
    only_gbsg2 = [r for r in records.datasets(graph, "demo-de") if r.dataset == "gbsg2"]
    cat.replace(store.node("demo-de"), only_gbsg2, "base", "")
    assert ids(store.engine, node=["demo-de"]) == ["demo-de/gbsg2"]
    assert facet(search(store.engine, Query()), "node")["demo-de"] == 1  # no facet rows left behind
    cat.replace(store.node("demo-de"), [], "base", "")
    assert ids(store.engine, node=["demo-de"]) == []


def test_a_node_that_stops_answering_keeps_its_datasets_marked_stale_since_the_first_miss(hub):
    store, cat = hub
    cat.missed("demo-nl", "timed out")
    first = dataset(store.engine, "demo-nl/rotterdam")
    assert first["stale"] is True and first["stale_since"] is not None
    cat.missed("demo-nl", "timed out again")
    assert dataset(store.engine, "demo-nl/rotterdam")["stale_since"] == first["stale_since"]
    assert {n["node_id"]: n["status"] for n in cat.nodes()}["demo-nl"] == "stale"
    assert "demo-nl/rotterdam" in ids(store.engine) and "demo-nl/rotterdam" not in ids(store.engine, stale=False)
    turtle = cat.harvested("demo-nl")
    cat.replace(store.node("demo-nl"), records.datasets(Graph().parse(data=turtle, format="turtle"), "demo-nl"),
                "base", turtle)
    assert dataset(store.engine, "demo-nl/rotterdam")["stale"] is False
