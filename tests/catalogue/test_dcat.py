"""The node's catalogue graph: DCAT-AP 3 conformance (the official SHACL shapes), the
HealthDCAT-AP properties, FAIR Data Point layers, and what the data may and may not reveal."""

import pycountry
import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import RDF, SKOS

from catalogue_fixtures import demo_nodes, descriptions, violations  # noqa: F401 (fixture)

from oncofed.catalogue import dcat
from oncofed.catalogue.dcat import ADMS, DCAT, DCATAP, DCT, DPV, EU, FDPO, FOAF, HEALTH, LDP, VCARD
from oncofed.catalogue.description import DatasetDescription
from oncofed.model import duo
from oncofed.node import catalogue

BASE = "https://node.example.org"
XSD = "http://www.w3.org/2001/XMLSchema#"
DESCRIBED = descriptions()  # node/dataset → description: every demo dataset


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


def objects(g, ds, p) -> set:
    return set(g.objects(ds, p))


def notations(g, ds, p) -> set[str]:
    return {str(g.value(o, SKOS.notation)) for o in g.objects(ds, p)}


def english(*texts: str) -> set[Literal]:
    return {Literal(t, lang="en") for t in texts}


def iris(values) -> set[URIRef]:
    return {URIRef(v) for v in values}


def is_agent(g, node, agent) -> bool:
    return (g.value(node, FOAF.name) == Literal(agent.name)
            and g.value(node, FOAF.homepage) == (URIRef(agent.url) if agent.url else None)
            and g.value(node, FOAF.mbox) == (URIRef(f"mailto:{agent.email}") if agent.email else None))


def licence_iri(licence: str) -> URIRef:
    return URIRef(licence if "://" in licence else f"https://spdx.org/licenses/{licence}")


def period(g, ds) -> tuple:
    p = g.value(ds, DCT.temporal)
    return tuple(None if v is None else v.toPython() for v in (g.value(p, DCAT.startDate), g.value(p, DCAT.endDate)))


# What the catalogue must say of a dataset for each field of its steward's description (HealthDCAT-AP
# and the DCAT-AP properties it builds on); one check per field, so no field goes unchecked.
FROM_THE_STEWARD = {
    "title": lambda g, ds, d: objects(g, ds, DCT.title) == english(d.title),
    "description": lambda g, ds, d: objects(g, ds, DCT.description) == english(d.description),
    "keywords": lambda g, ds, d: objects(g, ds, DCAT.keyword) == english(*d.keywords),
    "themes": lambda g, ds, d: objects(g, ds, DCAT.theme) == iris(f"{EU}data-theme/{t}" for t in d.themes),
    "publisher": lambda g, ds, d: is_agent(g, g.value(ds, DCT.publisher), d.publisher),
    "contact_point": lambda g, ds, d: (
        g.value(g.value(ds, DCAT.contactPoint), VCARD.fn) == Literal(d.contact_point.name)
        and objects(g, g.value(ds, DCAT.contactPoint), VCARD.hasEmail) == iris(
            [f"mailto:{d.contact_point.email}"] if d.contact_point.email else [])
        and objects(g, g.value(ds, DCAT.contactPoint), VCARD.hasURL) == iris(
            [d.contact_point.url] if d.contact_point.url else [])),
    "licence": lambda g, ds, d: g.value(g.value(ds, DCAT.distribution), DCT.license) == licence_iri(d.licence),
    "access_rights": lambda g, ds, d: g.value(ds, DCT.accessRights) == URIRef(
        f"{EU}access-right/{d.access_rights.upper().replace('-', '_')}"),
    "duo": lambda g, ds, d: notations(g, ds, DCT.rights) == set(d.duo),
    "duo_diseases": lambda g, ds, d: {str(g.value(c, SKOS.notation)) for r in g.objects(ds, DCT.rights)
                                      for c in g.objects(r, DCT.subject)} == (
        set(d.duo_diseases) if duo.DS in d.duo else set()),  # they qualify a disease-specific consent only
    "spatial": lambda g, ds, d: notations(g, ds, DCT.spatial) == set(d.spatial),
    "temporal": lambda g, ds, d: period(g, ds) == (d.temporal.start, d.temporal.end),
    "language": lambda g, ds, d: objects(g, ds, DCT.language) == iris(
        f"{EU}language/{pycountry.languages.get(alpha_2=c).alpha_3.upper()}" for c in d.language),
    "documentation": lambda g, ds, d: objects(g, ds, FOAF.page) == iris(d.documentation),
    "health_theme": lambda g, ds, d: objects(g, ds, HEALTH.healthTheme) == iris(d.health_theme),
    "health_category": lambda g, ds, d: objects(g, ds, HEALTH.healthCategory) == iris(d.health_category),
    "population_coverage": lambda g, ds, d: objects(g, ds, HEALTH.populationCoverage) == english(
        d.population_coverage),
    "legal_basis": lambda g, ds, d: objects(g, ds, DPV.hasLegalBasis) == iris(d.legal_basis),
    "hdab": lambda g, ds, d: is_agent(g, g.value(ds, HEALTH.hdab), d.hdab),
    "applicable_legislation": lambda g, ds, d: objects(g, ds, DCATAP.applicableLegislation) == objects(
        g, g.value(ds, DCAT.distribution), DCATAP.applicableLegislation) == iris(d.applicable_legislation),
}


def test_every_field_of_a_description_is_checked_and_every_demo_dataset_fully_described(demo_nodes):
    assert set(FROM_THE_STEWARD) == set(DatasetDescription.model_fields)
    for key, meta in DESCRIBED.items():
        assert meta.model_fields_set == set(DatasetDescription.model_fields), key
    held = set()
    for home in demo_nodes.values():
        with home.store(read_only=True) as store:
            held |= {f"{home.id}/{d.id}" for d in store.datasets()}
    assert held == set(DESCRIBED)


@pytest.mark.parametrize("key", sorted(DESCRIBED))
def test_every_described_dataset_carries_the_health_dcat_ap_properties(demo_nodes, key):
    node, dataset = key.split("/")
    home, meta = demo_nodes[node], DESCRIBED[key]
    g, ds = graph_of(home), URIRef(f"{BASE}/dataset/{dataset}")
    # from the steward
    assert [field for field, said in FROM_THE_STEWARD.items() if not said(g, ds, meta)] == []
    # from the data, released under the node's guard (which rounds nothing here)
    policy = home.config.guard
    assert policy.count_rounding == 1
    count = lambda p: None if g.value(ds, p) is None else int(g.value(ds, p))  # noqa: E731
    with home.store(read_only=True) as store:
        counts = store.counts(dataset)
        con = store.con
        held = {r[0] for r in con.execute(
            "SELECT code FROM diseases WHERE dataset_id = ? GROUP BY code HAVING count(DISTINCT individual_id) >= ?",
            [dataset, policy.min_cell]).fetchall()}
        ages = [r[0] for r in con.execute(
            "SELECT min(age_at_diagnosis) FROM diseases WHERE dataset_id = ? AND age_at_diagnosis IS NOT NULL "
            "GROUP BY individual_id", [dataset]).fetchall()]
    individuals = counts["individuals"]
    assert count(HEALTH.numberOfUniqueIndividuals) == (None if 0 < individuals < policy.min_cell else individuals)
    assert count(HEALTH.numberOfRecords) == sum(counts.values())
    assert notations(g, ds, DCT.type) == {table for table, n in counts.items() if n}
    assert notations(g, ds, HEALTH.hasCodeValues) == held  # only cancer types of min_cell individuals or more
    assert {code.split(":")[0] for code in held} <= notations(g, ds, HEALTH.hasCodingSystem) != set()
    if len(ages) >= 2 * policy.min_cell:
        assert min(ages) <= count(HEALTH.minTypicalAge) <= count(HEALTH.maxTypicalAge) <= max(ages) + 1
    else:  # too few ages to give a range that is not one individual's age
        assert count(HEALTH.minTypicalAge) is None and count(HEALTH.maxTypicalAge) is None


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
