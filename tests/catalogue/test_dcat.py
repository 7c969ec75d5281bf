"""The node's catalogue graph: DCAT-AP 3 conformance (the official SHACL shapes), the
HealthDCAT-AP properties, FAIR Data Point layers, and what the data may and may not reveal."""

import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import RDF, SKOS

from catalogue_fixtures import demo_nodes, violations  # noqa: F401 (fixture)

from oncofed.catalogue import dcat
from oncofed.catalogue.dcat import ADMS, DCAT, DCATAP, DCT, DPV, FDPO, FOAF, HEALTH, LDP, VCARD
from oncofed.node import catalogue

BASE = "https://node.example.org"
XSD = "http://www.w3.org/2001/XMLSchema#"


def graph_of(home):
    with home.store(read_only=True) as store:
        return catalogue.graph(home, store.con, BASE)


def layers(g):
    """Every resource a FAIR Data Point layer is served for."""
    found = set()
    for cls in dcat.LAYERS:
        found |= set(g.subjects(RDF.type, cls))
    return found


@pytest.mark.parametrize("node", ["demo-de", "demo-nl", "demo-fr"])
def test_every_node_catalogue_conforms_to_dcat_ap_3(demo_nodes, node):
    assert violations(graph_of(demo_nodes[node])) == {}


@pytest.mark.parametrize("node", ["demo-de", "demo-fr"])
def test_every_fdp_layer_conforms_on_its_own(demo_nodes, node):
    g = graph_of(demo_nodes[node])
    resources = layers(g)
    assert len(resources) == 2 + 3 * 2  # FDP, catalogue; per dataset: itself, a distribution, a version
    for iri in resources:
        assert violations(dcat.describe(g, iri)) == {}, iri


def test_a_described_dataset_carries_the_health_dcat_ap_properties(demo_nodes):
    g = graph_of(demo_nodes["demo-de"])
    ds = URIRef(f"{BASE}/dataset/gbsg2")
    value = lambda p: g.value(ds, p)  # noqa: E731
    # from the data
    assert value(HEALTH.numberOfUniqueIndividuals) == Literal(686, datatype=URIRef(XSD + "nonNegativeInteger"))
    assert int(value(HEALTH.numberOfRecords)) > 686
    assert 18 <= int(value(HEALTH.minTypicalAge)) < int(value(HEALTH.maxTypicalAge)) <= 90
    systems = {str(g.value(s, SKOS.notation)) for s in g.objects(ds, HEALTH.hasCodingSystem)}
    assert {"NCIT", "LOINC", "ATC", "SNOMEDCT"} <= systems
    assert {str(g.value(t, SKOS.notation)) for t in g.objects(ds, DCT.type)} == {
        "individuals", "diseases", "treatments", "measurements", "outcomes"}
    assert {str(g.value(c, SKOS.notation)) for c in g.objects(ds, HEALTH.hasCodeValues)} == {"NCIT:C4872"}
    # from the steward's description
    assert value(HEALTH.populationCoverage).startswith("Women with primary node-positive")
    assert value(HEALTH.healthTheme) == URIRef("https://health-themes.example.org/breast-cancer")
    assert value(HEALTH.healthCategory) is not None
    assert value(DPV.hasLegalBasis) == URIRef("https://w3id.org/dpv#Consent")
    assert g.value(value(HEALTH.hdab), FOAF.name) == Literal("Example health data access body")
    assert value(DCATAP.applicableLegislation) == URIRef("http://data.europa.eu/eli/reg/2016/679/oj")
    assert g.value(value(DCAT.contactPoint), VCARD.hasEmail) == URIRef("mailto:steward@example.org")
    assert g.value(value(DCT.publisher), FOAF.name) == Literal("German Breast Cancer Study Group")
    assert value(DCT.accessRights) == URIRef("http://publications.europa.eu/resource/authority/access-right/RESTRICTED")
    assert {str(g.value(r, SKOS.notation)) for r in g.objects(ds, DCT.rights)} == {
        "DUO:0000007", "DUO:0000019", "DUO:0000046"}
    assert value(DCT.spatial) == URIRef("http://publications.europa.eu/resource/authority/country/DEU")
    assert g.value(value(DCT.temporal), DCAT.startDate) == Literal("1984-07-01", datatype=URIRef(XSD + "date"))
    assert len(set(g.objects(ds, DCT.language))) == 2
    assert value(FOAF.page) == URIRef("https://gbsg.example.org/gbsg2")
    assert Literal("tamoxifen", lang="en") in set(g.objects(ds, DCAT.keyword))
    assert value(DCAT.theme) == URIRef("http://publications.europa.eu/resource/authority/data-theme/HEAL")
    assert g.value(value(DCAT.distribution), DCT.license) == URIRef("https://spdx.org/licenses/GPL-3.0")


def test_versions_are_datasets_of_their_own_named_by_their_content_hash(demo_nodes):
    home = demo_nodes["demo-nl"]
    g = graph_of(home)
    ds = URIRef(f"{BASE}/dataset/rotterdam")
    version = URIRef(f"{BASE}/dataset/rotterdam/version/1")
    assert g.value(ds, DCAT.hasCurrentVersion) == version
    assert g.value(version, DCAT.isVersionOf) == ds
    with home.store(read_only=True) as store:
        content_hash = store.dataset("rotterdam").content_hash
    assert g.value(g.value(version, ADMS.identifier), SKOS.notation) == Literal(content_hash)


def test_fdp_layers_link_down_from_the_fair_data_point(demo_nodes):
    g = graph_of(demo_nodes["demo-fr"])
    fdp, catalog = URIRef(f"{BASE}/fdp"), URIRef(f"{BASE}/catalog/demo-fr")
    assert (fdp, RDF.type, FDPO.FAIRDataPoint) in g
    assert g.value(fdp, FDPO.metadataCatalog) == catalog and (fdp, LDP.contains, catalog) in g
    assert set(g.objects(catalog, DCAT.dataset)) == {URIRef(f"{BASE}/dataset/colon"),
                                                     URIRef(f"{BASE}/dataset/ncctg-lung")}
    for layer in layers(g):
        assert g.value(layer, FDPO.metadataIdentifier) == layer
        assert g.value(layer, FDPO.metadataIssued) is not None


def test_identifiers_derive_from_the_base_url_and_the_ids_only(demo_nodes):
    home = demo_nodes["demo-nl"]
    assert {s for s in graph_of(home).subjects() if isinstance(s, URIRef) and s.startswith(BASE)} == {
        URIRef(BASE + p) for p in ("/fdp", "/catalog/demo-nl",
                                   *(f"/{layer}/{d}" for layer in ("dataset", "distribution")
                                     for d in ("rotterdam", "ncctg-lung", "hcc1187")),
                                   *(f"/dataset/{d}/version/1" for d in ("rotterdam", "ncctg-lung", "hcc1187")),
                                   *(f"/vocabulary/data-type/{t}" for t in
                                     ("individuals", "diseases", "treatments", "measurements", "outcomes",
                                      "biosamples", "variants", "calls")),  # hcc1187: a tumour/normal VCF
                                   *(f"/vocabulary/coding-system/{c}" for c in ("ONCOFED", "GENO", "SO")))}
