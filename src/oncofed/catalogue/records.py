"""A harvested catalogue graph read back into flat dataset records: what the hub indexes,
searches and shows. The inverse of ``catalogue.dcat`` for the fields a search needs; the graph
itself stays the source of truth (the hub keeps it as harvested)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rdflib import Graph, URIRef
from rdflib.namespace import RDF, SKOS

from oncofed.catalogue.dcat import DCAT, DCT, DPV, FOAF, HEALTH, VCARD
from oncofed.errors import OncofedError

ACCESS = {"PUBLIC": "public", "RESTRICTED": "restricted", "NON_PUBLIC": "non-public"}


class CatalogueError(OncofedError):
    """A harvested catalogue the hub cannot read."""


@dataclass
class DatasetRecord:
    node: str
    dataset: str
    iri: str
    title: str
    description: str
    keywords: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    publisher: str | None = None
    contact: str | None = None
    licence: str | None = None
    access: str | None = None  # public | restricted | non-public
    duo: list[str] = field(default_factory=list)
    duo_diseases: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)  # ISO 3166 alpha-2 the data covers
    temporal: dict[str, str] = field(default_factory=dict)
    documentation: list[str] = field(default_factory=list)
    individuals: int | None = None
    records: int | None = None
    min_age: int | None = None
    max_age: int | None = None
    coding_systems: list[str] = field(default_factory=list)
    data_types: list[str] = field(default_factory=list)
    cancer_types: list[str] = field(default_factory=list)
    health_themes: list[str] = field(default_factory=list)
    population_coverage: str | None = None
    legal_basis: list[str] = field(default_factory=list)
    hdab: str | None = None
    version: str | None = None
    versions: int = 0
    issued: str | None = None
    modified: str | None = None

    @property
    def id(self) -> str:
        return f"{self.node}/{self.dataset}"

    def to_json(self) -> dict:
        return {"id": self.id} | asdict(self)


def datasets(graph: Graph, node: str) -> list[DatasetRecord]:
    """Every dataset the node's catalogues list (not their versions), as records."""
    found = []
    for catalog in graph.subjects(RDF.type, DCAT.Catalog):
        for ds in graph.objects(catalog, DCAT.dataset):
            found.append(_record(graph, node, ds))
    return sorted(found, key=lambda r: r.dataset)


def _record(g: Graph, node: str, ds) -> DatasetRecord:
    iri = str(ds)
    if "/dataset/" not in iri:
        raise CatalogueError(f"dataset identifier {iri!r} does not end in /dataset/<id>")
    title, description = _one(g, ds, DCT.title), _one(g, ds, DCT.description)
    if title is None or description is None:
        raise CatalogueError(f"dataset {iri} has no title or no description")
    rights = [r for r in g.objects(ds, DCT.rights)]
    access = _one_iri(g, ds, DCT.accessRights)
    contact = next(g.objects(ds, DCAT.contactPoint), None)
    publisher = next(g.objects(ds, DCT.publisher), None)
    hdab = next(g.objects(ds, HEALTH.hdab), None)
    period = next(g.objects(ds, DCT.temporal), None)
    licence = next((lic for dist in g.objects(ds, DCAT.distribution) for lic in g.objects(dist, DCT.license)), None)
    current = _one(g, ds, DCAT.version)
    return DatasetRecord(
        node=node,
        dataset=iri.rsplit("/dataset/", 1)[1],
        iri=iri,
        title=title,
        description=description,
        keywords=_all(g, ds, DCAT.keyword),
        themes=sorted(str(_one(g, t, SKOS.prefLabel) or t) for t in g.objects(ds, DCAT.theme)),
        publisher=_one(g, publisher, FOAF.name) if publisher is not None else None,
        contact=_contact(g, contact),
        licence=str(_one(g, licence, DCT.identifier) or licence) if licence is not None else None,
        access=ACCESS.get(access.rsplit("/", 1)[1]) if access else None,
        duo=_notations(g, rights),
        duo_diseases=sorted({str(n) for r in rights for s in g.objects(r, DCT.subject)
                             for n in g.objects(s, SKOS.notation)}),
        countries=_notations(g, g.objects(ds, DCT.spatial)),
        temporal={k: str(v) for k, p in (("start", DCAT.startDate), ("end", DCAT.endDate))
                  if period is not None and (v := g.value(period, p)) is not None},
        documentation=sorted(str(p) for p in g.objects(ds, FOAF.page)),
        individuals=_int(g, ds, HEALTH.numberOfUniqueIndividuals),
        records=_int(g, ds, HEALTH.numberOfRecords),
        min_age=_int(g, ds, HEALTH.minTypicalAge),
        max_age=_int(g, ds, HEALTH.maxTypicalAge),
        coding_systems=_notations(g, g.objects(ds, HEALTH.hasCodingSystem)),
        data_types=_notations(g, g.objects(ds, DCT.type)),
        cancer_types=_notations(g, g.objects(ds, HEALTH.hasCodeValues)),
        health_themes=sorted(str(t) for t in g.objects(ds, HEALTH.healthTheme)),
        population_coverage=_one(g, ds, HEALTH.populationCoverage),
        legal_basis=sorted(str(t) for t in g.objects(ds, DPV.hasLegalBasis)),
        hdab=_one(g, hdab, FOAF.name) if hdab is not None else None,
        version=current,
        versions=len(set(g.objects(ds, DCAT.hasVersion))),
        issued=_one(g, ds, DCT.issued),
        modified=_one(g, ds, DCT.modified),
    )


def _one(g: Graph, s, p) -> str | None:
    value = g.value(s, p)
    return None if value is None else str(value)


def _one_iri(g: Graph, s, p) -> str | None:
    value = g.value(s, p)
    return str(value) if isinstance(value, URIRef) else None


def _all(g: Graph, s, p) -> list[str]:
    return sorted(str(o) for o in g.objects(s, p))


def _int(g: Graph, s, p) -> int | None:
    value = g.value(s, p)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise CatalogueError(f"{s} {p}: {value!r} is not a whole number") from None


def _notations(g: Graph, nodes) -> list[str]:
    return sorted({str(n) for node in nodes for n in g.objects(node, SKOS.notation)})


def _contact(g: Graph, node) -> str | None:
    if node is None:
        return None
    for p in (VCARD.hasEmail, VCARD.hasURL):
        if (value := g.value(node, p)) is not None:
            return str(value).removeprefix("mailto:")
    return _one(g, node, VCARD.fn)
