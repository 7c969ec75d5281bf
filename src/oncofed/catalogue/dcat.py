"""A node's catalogue as RDF: DCAT-AP 3 with the HealthDCAT-AP terms, in FAIR Data Point layers
(FDP → catalogue → dataset → dataset version, distribution).

The graph is self-contained, so it validates against the DCAT-AP SHACL shapes without fetching
anything: every resource a shape checks the class of is typed here, and every concept taken
from an EU code list (language, country, data theme, access right) states its scheme.

Identifiers are stable: they derive from the node's base URL and the dataset ids only. Under
them the node serves each layer (``describe``), so every identifier resolves there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pycountry
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, RDFS, SKOS, XSD

from oncofed.catalogue.contents import Entry, NodeCatalogue
from oncofed.catalogue.description import EU_THEMES, Agent, Contact
from oncofed.model import duo, vocabulary

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
ELI = Namespace("http://data.europa.eu/eli/ontology#")
HEALTH = Namespace("http://healthdataportal.eu/ns/health#")  # HealthDCAT-AP's (provisional) namespace
DPV = Namespace("https://w3id.org/dpv#")
FDPO = Namespace("https://w3id.org/fdp/fdp-o#")
LDP = Namespace("http://www.w3.org/ns/ldp#")
OBO = Namespace("http://purl.obolibrary.org/obo/")
EU = "http://publications.europa.eu/resource/authority/"
FDP_SPEC = URIRef("https://specs.fairdatapoint.org/fdp-specs-v1.2.html")
PREFIXES = {"dcat": DCAT, "dct": DCT, "foaf": FOAF, "vcard": VCARD, "adms": ADMS, "dcatap": DCATAP, "eli": ELI,
            "healthdcatap": HEALTH, "dpv": DPV, "fdp-o": FDPO, "ldp": LDP, "obo": OBO, "skos": SKOS,
            "rdfs": RDFS, "xsd": XSD}
LAYERS = frozenset({FDPO.FAIRDataPoint, DCAT.Catalog, DCAT.Dataset, DCAT.Distribution, DCAT.DataService})
ACCESS_RIGHTS = {"public": "PUBLIC", "restricted": "RESTRICTED", "non-public": "NON_PUBLIC"}
# CURIE prefixes with an OBO PURL; any other CURIE is written as a Bioregistry IRI.
OBO_PREFIXES = frozenset({"NCIT", "DUO", "UO", "HP", "MONDO"})
# Coding systems with a Bioregistry entry; others (a node's local codes) get an IRI of the node's.
REGISTERED = frozenset({"NCIT", "LOINC", "ATC", "SNOMEDCT", "ICD10", "ICDO", "DUO", "HGNC", "UCUM", "HP", "MONDO",
                        "UO"})


@dataclass(frozen=True)
class Iris:
    """The stable identifiers of a node's catalogue, under its base URL."""

    base: str
    node: str

    @property
    def fdp(self) -> URIRef:
        return URIRef(f"{self.base}/fdp")

    @property
    def catalog(self) -> URIRef:
        return URIRef(f"{self.base}/catalog/{self.node}")

    def dataset(self, dataset_id: str) -> URIRef:
        return URIRef(f"{self.base}/dataset/{dataset_id}")

    def version(self, dataset_id: str, n: int) -> URIRef:
        return URIRef(f"{self.base}/dataset/{dataset_id}/version/{n}")

    def distribution(self, dataset_id: str) -> URIRef:
        return URIRef(f"{self.base}/distribution/{dataset_id}")

    def data_type(self, table: str) -> URIRef:
        return URIRef(f"{self.base}/vocabulary/data-type/{table}")

    def coding_system(self, prefix: str) -> URIRef:
        if prefix.upper() in REGISTERED:
            return URIRef(f"https://bioregistry.io/registry/{prefix.lower()}")
        return URIRef(f"{self.base}/vocabulary/coding-system/{prefix}")


def curie_iri(code: str) -> URIRef:
    prefix, local = code.split(":", 1)
    if prefix.upper() in OBO_PREFIXES:
        return OBO[f"{prefix.upper()}_{local}"]
    return URIRef(f"https://bioregistry.io/{prefix.lower()}:{local}")


def new_graph() -> Graph:
    g = Graph()
    for prefix, namespace in PREFIXES.items():
        g.bind(prefix, namespace)
    return g


def build(cat: NodeCatalogue, base: str) -> Graph:
    """The whole catalogue of a node: every layer, every dataset."""
    iris = Iris(base.rstrip("/"), cat.node_id)
    g = new_graph()
    s = cat.settings
    publisher = s.publisher or Agent(name=cat.name)
    modified = max([_modified(e) for e in cat.entries] + [cat.created_at])
    languages = s.language

    fdp = iris.fdp
    for t in (FDPO.FAIRDataPoint, FDPO.MetadataService, DCAT.DataService):
        g.add((fdp, RDF.type, t))
    _text(g, fdp, DCT.title, f"{s.title or cat.name} FAIR Data Point")
    _text(g, fdp, DCT.description, f"The FAIR Data Point of oncofed node {cat.name} ({cat.country}): "
                                   "metadata of its datasets; the records never leave the node.")
    g.add((fdp, DCT.publisher, _agent(g, publisher)))
    g.add((fdp, DCAT.endpointURL, fdp))
    g.add((fdp, RDF.type, RDFS.Resource))  # DCAT-AP 3.0.1's ranges.ttl asks the endpoint's class
    g.add((fdp, FDPO.conformsToFdpSpec, FDP_SPEC))
    g.add((fdp, FDPO.metadataCatalog, iris.catalog))
    g.add((fdp, LDP.contains, iris.catalog))
    _record(g, fdp, cat.created_at, modified)
    if s.licence:
        g.add((fdp, DCT.license, _licence(g, s.licence)))

    catalog = iris.catalog
    g.add((catalog, RDF.type, DCAT.Catalog))
    _text(g, catalog, DCT.title, s.title or f"{cat.name} catalogue")
    _text(g, catalog, DCT.description, s.description or f"Cancer datasets held by oncofed node {cat.name}.")
    g.add((catalog, DCT.publisher, _agent(g, publisher)))
    g.add((catalog, DCT.spatial, _country(g, cat.country)))
    for code in languages:
        g.add((catalog, DCT.language, _language(g, code)))
    scheme = URIRef(EU + "data-theme")
    g.add((catalog, DCAT.themeTaxonomy, scheme))
    g.add((scheme, RDF.type, SKOS.ConceptScheme))
    _text(g, scheme, DCT.title, "Data theme")
    if s.homepage:
        g.add((catalog, FOAF.homepage, _document(g, s.homepage)))
    if s.licence:
        g.add((catalog, DCT.license, _licence(g, s.licence)))
    g.add((catalog, DCT.issued, _when(cat.created_at)))
    g.add((catalog, DCT.modified, _when(modified)))
    _record(g, catalog, cat.created_at, modified)
    for e in cat.entries:
        g.add((catalog, DCAT.dataset, iris.dataset(e.info.id)))
        g.add((catalog, LDP.contains, iris.dataset(e.info.id)))
        _dataset(g, iris, cat, e, publisher)
    return g


def _dataset(g: Graph, iris: Iris, cat: NodeCatalogue, e: Entry, node_publisher: Agent) -> None:
    d, f, info = e.description, e.facts, e.info
    ds = iris.dataset(info.id)
    title = d.title or info.title
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCT.identifier, Literal(str(ds))))
    _text(g, ds, DCT.title, title)
    _text(g, ds, DCT.description, d.description or info.description or _summary(cat, e, title))
    for k in d.keywords:
        _text(g, ds, DCAT.keyword, k)
    for theme in d.themes:
        g.add((ds, DCAT.theme, _concept(g, URIRef(f"{EU}data-theme/{theme}"), EU_THEMES[theme], "data-theme")))
    publisher = d.publisher or node_publisher
    g.add((ds, DCT.publisher, _agent(g, publisher)))
    contact = d.contact_point or _contact_of(info.contact, publisher.name)
    if contact:
        g.add((ds, DCAT.contactPoint, _vcard(g, contact)))
    access = ACCESS_RIGHTS[d.access_rights]
    rights = _concept(g, URIRef(f"{EU}access-right/{access}"), access.replace("_", " ").lower(), "access-right")
    g.add((rights, RDF.type, DCT.RightsStatement))
    g.add((ds, DCT.accessRights, rights))
    for code in d.duo if d.duo is not None else info.duo:
        g.add((ds, DCT.rights, _duo(g, code, d.duo_diseases if code == duo.DS else ())))
    for country in d.spatial or f.countries or (cat.country,):
        g.add((ds, DCT.spatial, _country(g, country)))
    if d.temporal:
        period = BNode()
        g.add((ds, DCT.temporal, period))
        g.add((period, RDF.type, DCT.PeriodOfTime))
        if d.temporal.start:
            g.add((period, DCAT.startDate, Literal(d.temporal.start, datatype=XSD.date)))
        if d.temporal.end:
            g.add((period, DCAT.endDate, Literal(d.temporal.end, datatype=XSD.date)))
    for code in d.language:
        g.add((ds, DCT.language, _language(g, code)))
    for page in d.documentation:
        g.add((ds, FOAF.page, _document(g, page)))
    g.add((ds, DCT.issued, _when(info.created_at)))
    g.add((ds, DCT.modified, _when(_modified(e))))
    for table in f.data_types:
        g.add((ds, DCT.type, _data_type(g, iris, table)))

    # HealthDCAT-AP: from the data (guarded) …
    for prop, value in ((HEALTH.numberOfUniqueIndividuals, f.individuals), (HEALTH.numberOfRecords, f.records),
                        (HEALTH.minTypicalAge, f.min_age), (HEALTH.maxTypicalAge, f.max_age)):
        if value is not None:
            g.add((ds, prop, Literal(value, datatype=XSD.nonNegativeInteger)))
    for prefix in f.coding_systems:
        system = iris.coding_system(prefix)
        g.add((ds, HEALTH.hasCodingSystem, system))
        g.add((system, SKOS.notation, Literal(prefix)))
    for code in f.cancer_types:
        g.add((ds, HEALTH.hasCodeValues, _code(g, code)))
    # … and from the steward
    for iri in d.health_theme:
        g.add((ds, HEALTH.healthTheme, URIRef(iri)))
    for iri in d.health_category:
        g.add((ds, HEALTH.healthCategory, URIRef(iri)))
    if d.population_coverage:
        _text(g, ds, HEALTH.populationCoverage, d.population_coverage)
    for iri in d.legal_basis:
        g.add((ds, DPV.hasLegalBasis, URIRef(iri)))
    if d.hdab:
        g.add((ds, HEALTH.hdab, _agent(g, d.hdab)))
    for iri in d.applicable_legislation:
        g.add((ds, DCATAP.applicableLegislation, _legislation(g, iri)))

    g.add((ds, DCT.isPartOf, iris.catalog))
    _record(g, ds, info.created_at, _modified(e))
    dist = iris.distribution(info.id)
    g.add((ds, DCAT.distribution, dist))
    g.add((ds, LDP.contains, dist))
    _distribution(g, iris, e, dist, ds)
    if f.versions:
        current = f.versions[-1]
        g.add((ds, DCAT.version, Literal(str(current.version))))
        g.add((ds, DCAT.hasCurrentVersion, iris.version(info.id, current.version)))
    for v in f.versions:
        version = iris.version(info.id, v.version)
        g.add((ds, DCAT.hasVersion, version))
        g.add((version, RDF.type, DCAT.Dataset))
        g.add((version, DCAT.isVersionOf, ds))
        g.add((version, DCAT.version, Literal(str(v.version))))
        _text(g, version, DCT.title, f"{title}, version {v.version}")
        _text(g, version, DCT.description,
              f"Version {v.version} of {title}: a {v.mode} ingest ({v.format}) on {v.created_at:%Y-%m-%d}, "
              f"content hash {v.content_hash}.")
        g.add((version, DCT.issued, _when(v.created_at)))
        identifier = BNode()
        g.add((version, ADMS.identifier, identifier))
        g.add((identifier, RDF.type, ADMS.Identifier))
        g.add((identifier, SKOS.notation, Literal(v.content_hash)))
        _record(g, version, v.created_at, v.created_at)


def _distribution(g: Graph, iris: Iris, e: Entry, dist: URIRef, ds: URIRef) -> None:
    d = e.description
    g.add((dist, RDF.type, DCAT.Distribution))
    _text(g, dist, DCT.title, "Federated analysis through oncofed")
    _text(g, dist, DCT.description,
          "The records stay at the node. Through the federation's hub, counts and aggregate analyses "
          "(survival, regression) are answered under the node's disclosure control; record-level access "
          "needs a permit from the data access committee.")
    g.add((dist, DCAT.accessURL, ds))
    licence = d.licence or e.info.licence
    if licence:
        g.add((dist, DCT.license, _licence(g, licence)))
    for iri in d.applicable_legislation:
        g.add((dist, DCATAP.applicableLegislation, _legislation(g, iri)))
    g.add((dist, DCT.isPartOf, ds))
    g.add((dist, DCT.issued, _when(e.info.created_at)))
    g.add((dist, DCT.modified, _when(_modified(e))))
    _record(g, dist, e.info.created_at, _modified(e))


def describe(g: Graph, iri: URIRef) -> Graph | None:
    """One FDP layer: what the graph says of ``iri`` and of the code-list concepts, agents and
    periods it uses, plus the resources it links to (the next layer down and the one up),
    whose own further links are left to their layer. None when the graph does not hold ``iri``."""
    if (iri, None, None) not in g:
        return None
    out = new_graph()
    linked = {o for o in g.objects(iri) if isinstance(o, URIRef) and _is_layer(g, o)} - {iri}
    shown = linked | {iri}
    _add_closure(g, out, iri, shown)
    for resource in linked:
        _add_closure(g, out, resource, shown)
    return out


def _add_closure(g: Graph, out: Graph, subject, shown: set) -> None:
    """``subject``'s statements, following blank nodes and auxiliary IRIs (not other layers,
    except those in ``shown``, whose statements come on their own)."""
    stack, seen = [subject], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for p, o in g.predicate_objects(node):
            if isinstance(o, URIRef) and _is_layer(g, o) and o not in shown:
                continue
            out.add((node, p, o))
            if isinstance(o, BNode) or (isinstance(o, URIRef) and not _is_layer(g, o)):
                stack.append(o)


def _is_layer(g: Graph, iri: URIRef) -> bool:
    return any(t in LAYERS for t in g.objects(iri, RDF.type))


# pieces -------------------------------------------------------------------------------------


def _text(g: Graph, s, p, text: str) -> None:
    g.add((s, p, Literal(text, lang="en")))


def _when(t: datetime) -> Literal:
    return Literal(t.replace(microsecond=0), datatype=XSD.dateTime)


def _modified(e: Entry) -> datetime:
    times = [e.info.created_at] + [v.created_at for v in e.facts.versions]
    return max(times + ([e.described_at] if e.described_at else []))


def _record(g: Graph, s: URIRef, issued: datetime, modified: datetime) -> None:
    """The FAIR Data Point's meta-metadata of a layer."""
    g.add((s, FDPO.metadataIdentifier, s))
    g.add((s, FDPO.metadataIssued, _when(issued)))
    g.add((s, FDPO.metadataModified, _when(modified)))


def _agent(g: Graph, agent: Agent) -> BNode:
    node = BNode()
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, FOAF.name, Literal(agent.name)))
    if agent.url:
        g.add((node, FOAF.homepage, _document(g, agent.url)))
    if agent.email:
        g.add((node, FOAF.mbox, URIRef(f"mailto:{agent.email}")))
    return node


def _vcard(g: Graph, contact: Contact) -> BNode:
    node = BNode()
    g.add((node, RDF.type, VCARD.Kind))
    g.add((node, VCARD.fn, Literal(contact.name)))
    if contact.email:
        g.add((node, VCARD.hasEmail, URIRef(f"mailto:{contact.email}")))
    if contact.url:
        g.add((node, VCARD.hasURL, URIRef(contact.url)))
    return node


def _contact_of(text: str | None, name: str) -> Contact | None:
    """A dataset's registered contact (an e-mail or a URL) as a contact point."""
    if not text:
        return None
    try:
        return Contact(name=name, url=text) if "://" in text else Contact(name=name, email=text)
    except ValueError:
        return None


def _concept(g: Graph, iri: URIRef, label: str, scheme: str) -> URIRef:
    g.add((iri, RDF.type, SKOS.Concept))
    g.add((iri, SKOS.prefLabel, Literal(label, lang="en")))
    g.add((iri, SKOS.inScheme, URIRef(EU + scheme)))
    return iri


def _country(g: Graph, alpha_2: str) -> URIRef:
    country = pycountry.countries.get(alpha_2=alpha_2)
    iri = _concept(g, URIRef(f"{EU}country/{country.alpha_3}"), country.name, "country")
    g.add((iri, RDF.type, DCT.Location))
    g.add((iri, SKOS.notation, Literal(alpha_2)))
    return iri


def _language(g: Graph, alpha_2: str) -> URIRef:
    language = pycountry.languages.get(alpha_2=alpha_2)
    iri = _concept(g, URIRef(f"{EU}language/{language.alpha_3.upper()}"), language.name, "language")
    g.add((iri, RDF.type, DCT.LinguisticSystem))
    return iri


def _licence(g: Graph, licence: str) -> URIRef:
    iri = URIRef(licence if "://" in licence else f"https://spdx.org/licenses/{licence}")
    g.add((iri, RDF.type, DCT.LicenseDocument))
    if "://" not in licence:
        g.add((iri, DCT.identifier, Literal(licence)))
    return iri


def _document(g: Graph, url: str) -> URIRef:
    iri = URIRef(url)
    g.add((iri, RDF.type, FOAF.Document))
    return iri


def _legislation(g: Graph, iri: str) -> URIRef:
    node = URIRef(iri)
    g.add((node, RDF.type, ELI.LegalResource))
    return node


def _code(g: Graph, code: str) -> URIRef:
    iri = curie_iri(code)
    g.add((iri, SKOS.notation, Literal(code)))
    if label := vocabulary.label(code):
        g.add((iri, SKOS.prefLabel, Literal(label, lang="en")))
    return iri


def _duo(g: Graph, code: str, diseases) -> BNode:
    """A data-use condition: an instance of the DUO term, with the diseases a DS consent covers."""
    node = BNode()
    g.add((node, RDF.type, DCT.RightsStatement))
    g.add((node, RDF.type, curie_iri(code)))
    g.add((node, SKOS.notation, Literal(code)))
    if label := vocabulary.label(code):
        g.add((node, RDFS.label, Literal(label, lang="en")))
    for disease in diseases:
        g.add((node, DCT.subject, _code(g, disease)))
    return node


def _data_type(g: Graph, iris: Iris, table: str) -> URIRef:
    iri = iris.data_type(table)
    g.add((iri, RDF.type, SKOS.Concept))
    g.add((iri, SKOS.prefLabel, Literal(table.replace("_", " "), lang="en")))
    g.add((iri, SKOS.notation, Literal(table)))
    return iri


def _summary(cat: NodeCatalogue, e: Entry, title: str) -> str:
    held = ", ".join(t.replace("_", " ") for t in e.facts.data_types) or "no records yet"
    return f"{title}, held by oncofed node {cat.name} ({cat.country}): {held}."

