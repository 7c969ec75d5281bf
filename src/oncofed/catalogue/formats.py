"""The RDF formats a catalogue is served in, and content negotiation between them.

JSON-LD is written with its context inline (the catalogue's prefixes), so neither the node nor
a reader ever fetches a context from the web.
"""

from __future__ import annotations

from rdflib import Graph

from oncofed.catalogue.dcat import PREFIXES
from oncofed.errors import OncofedError

# format → (media type, rdflib's name)
FORMATS = {
    "turtle": ("text/turtle", "turtle"),
    "json-ld": ("application/ld+json", "json-ld"),
    "rdf-xml": ("application/rdf+xml", "pretty-xml"),
}
ALIASES = {"ttl": "turtle", "turtle": "turtle", "jsonld": "json-ld", "json-ld": "json-ld", "json": "json-ld",
           "rdf": "rdf-xml", "xml": "rdf-xml", "rdf-xml": "rdf-xml", "rdfxml": "rdf-xml"}
BY_MEDIA_TYPE = {media: name for name, (media, _) in FORMATS.items()} | {"application/json": "json-ld"}
DEFAULT = "turtle"  # as FAIR Data Point implementations answer


class NotAcceptable(OncofedError):
    pass


def negotiate(accept: str | None, format: str | None = None) -> str:
    """The format to answer in: ``format`` (a ?format= value) if given, else the most
    preferred supported media type of an Accept header; NotAcceptable if none fits."""
    if format:
        if format.lower() not in ALIASES:
            raise NotAcceptable(f"unknown format {format!r}; expected one of {', '.join(sorted(ALIASES))}")
        return ALIASES[format.lower()]
    if not accept:
        return DEFAULT
    ranked = []
    for position, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        ranked.append((-q, position, media.lower()))
    for q, _, media in sorted(ranked):
        if q == 0:
            break
        if media in BY_MEDIA_TYPE:
            return BY_MEDIA_TYPE[media]
        if media in ("*/*", "text/*", "application/*"):
            return DEFAULT if media != "application/*" else "json-ld"
    raise NotAcceptable(f"cannot answer in {accept!r}; available: "
                        f"{', '.join(media for media, _ in FORMATS.values())}")


def media_type(format: str) -> str:
    return FORMATS[format][0]


def serialize(graph: Graph, format: str) -> str:
    if format == "json-ld":
        return graph.serialize(format="json-ld", context={p: str(ns) for p, ns in PREFIXES.items()}, indent=1)
    return graph.serialize(format=FORMATS[format][1])


def parse(text: str, format: str) -> Graph:
    return Graph().parse(data=text, format=FORMATS[format][1] if format != "rdf-xml" else "xml")
