"""The node's FAIR Data Point over HTTP: content negotiation, and the same graph in every format."""

import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, URIRef
from rdflib.compare import isomorphic

from catalogue_fixtures import demo_nodes, violations  # noqa: F401 (fixture)

from oncofed.catalogue import description
from oncofed.catalogue.dcat import DCAT
from oncofed.node.app import create_app

PATHS = ["/fdp", "/catalog/demo-fr", "/dataset/colon", "/dataset/colon/version/1", "/distribution/colon"]


@pytest.fixture(scope="module")
def client(demo_nodes):
    with TestClient(create_app(demo_nodes["demo-fr"]), base_url="http://node-fr.test") as c:
        yield c


@pytest.mark.parametrize("path", PATHS)
def test_the_turtle_served_is_the_same_graph_as_the_json_ld_and_the_rdf_xml(client, path):
    graphs = {}
    for accept, fmt in (("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
                        ("application/rdf+xml", "xml")):
        response = client.get(path, headers={"Accept": accept})
        assert response.status_code == 200 and response.headers["content-type"].startswith(accept)
        graphs[fmt] = Graph().parse(data=response.text, format=fmt)
    assert len(graphs["turtle"]) > 10
    assert isomorphic(graphs["turtle"], graphs["json-ld"])
    assert isomorphic(graphs["turtle"], graphs["xml"])


@pytest.mark.parametrize("path", PATHS)
def test_every_layer_served_conforms_to_dcat_ap_3(client, path):
    assert violations(Graph().parse(data=client.get(path).text, format="turtle")) == {}


@pytest.mark.parametrize("accept, query, served", [
    (None, None, "text/turtle"),
    ("*/*", None, "text/turtle"),
    ("application/json", None, "application/ld+json"),
    ("text/html;q=0.9, application/rdf+xml;q=0.5", None, "application/rdf+xml"),
    ("application/ld+json;q=0.4, text/turtle;q=0.8", None, "text/turtle"),
    ("text/turtle", "jsonld", "application/ld+json"),
    ("application/ld+json", "ttl", "text/turtle"),
    (None, "rdf-xml", "application/rdf+xml"),
])
def test_content_negotiation_by_accept_or_format(client, accept, query, served):
    response = client.get("/dataset/colon", headers={"Accept": accept} if accept else {},
                          params={"format": query} if query else {})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == served


def test_an_unsupported_format_is_406_and_an_unknown_resource_404(client):
    assert client.get("/fdp", headers={"Accept": "image/png"}).status_code == 406
    assert client.get("/fdp", params={"format": "csv"}).status_code == 406
    response = client.get("/dataset/nothing-here")
    assert response.status_code == 404 and "nothing-here" in response.json()["error"]


def test_identifiers_resolve_where_the_node_is_reached(client):
    g = Graph().parse(data=client.get("/dataset/colon").text, format="turtle")
    dataset = URIRef("http://node-fr.test/dataset/colon")
    assert g.value(dataset, DCAT.distribution) == URIRef("http://node-fr.test/distribution/colon")
    assert client.get(str(g.value(dataset, DCAT.distribution)).removeprefix("http://node-fr.test")).status_code == 200


def test_a_configured_base_url_names_every_identifier(demo_nodes, tmp_path):
    home = demo_nodes["demo-nl"]
    with home.store() as store:
        description.save_settings(store.con, description.CatalogueSettings(base_url="https://fdp.example.nl/oncofed"))
    try:
        with TestClient(create_app(home), base_url="http://10.0.0.7:8701") as c:
            g = Graph().parse(data=c.get("/dataset/rotterdam").text, format="turtle")
        assert (URIRef("https://fdp.example.nl/oncofed/dataset/rotterdam"), None, None) in g
        assert not [s for s in g.all_nodes() if "10.0.0.7" in str(s)]
    finally:
        with home.store() as store:
            store.con.execute("DELETE FROM catalogue_settings")
