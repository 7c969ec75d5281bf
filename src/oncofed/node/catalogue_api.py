"""The node's FAIR Data Point over HTTP: each layer of its catalogue (FDP, catalogue, dataset,
dataset version, distribution) at its own identifier, as Turtle, JSON-LD or RDF/XML by
content negotiation (Accept, or ``?format=``). Public: metadata only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from rdflib import URIRef
from starlette.concurrency import run_in_threadpool

from oncofed.catalogue import dcat, formats
from oncofed.node import catalogue
from oncofed.node.handler import Node
from oncofed.web import errors

Format = Annotated[str | None, Query(description="turtle, json-ld or rdf-xml (overrides Accept)")]
# JSON-LD as ``formats`` writes it: compacted with the context inline, one node or a @graph of them
JSON_LD = {"type": "object", "required": ["@context"], "properties": {
    "@context": {"type": "object"}, "@id": {"type": "string"},
    "@graph": {"type": "array", "items": {"type": "object", "required": ["@id"]}}},
    "anyOf": [{"required": ["@id"]}, {"required": ["@graph"]}]}
# what each layer's 200 may be, for the OpenAPI description (the default says JSON only)
RDF = {200: {"description": "the layer's metadata", "content": {
    media: {"schema": JSON_LD} if name == "json-ld" else {} for name, (media, _) in formats.FORMATS.items()}},
    **errors(404, 406)}


def router(node: Node) -> APIRouter:
    api = APIRouter(tags=["FAIR Data Point"])

    def layer(request: Request, path: str, format: str | None) -> Response:
        try:
            fmt = formats.negotiate(request.headers.get("accept"), format)
        except formats.NotAcceptable as e:
            raise HTTPException(406, str(e)) from None
        with node.lock:  # one store connection, shared with the request handler
            base = catalogue.base_url(node.home, node.con, str(request.base_url))
            whole = catalogue.graph(node.home, node.con, base)
        described = dcat.describe(whole, URIRef(base + path))
        if described is None:
            raise HTTPException(404, f"this node's catalogue holds no {path}")
        return Response(formats.serialize(described, fmt), media_type=formats.media_type(fmt),
                        headers={"Vary": "Accept"})

    async def serve(request: Request, path: str, format: str | None) -> Response:
        return await run_in_threadpool(layer, request, path, format)

    @api.get("/fdp", response_class=Response, responses=RDF)
    async def fdp(request: Request, format: Format = None) -> Response:
        return await serve(request, "/fdp", format)

    @api.get("/catalog/{node_id}", response_class=Response, responses=RDF)
    async def catalog(request: Request, node_id: str, format: Format = None) -> Response:
        return await serve(request, f"/catalog/{node_id}", format)

    @api.get("/dataset/{dataset_id}", response_class=Response, responses=RDF)
    async def dataset(request: Request, dataset_id: str, format: Format = None) -> Response:
        return await serve(request, f"/dataset/{dataset_id}", format)

    @api.get("/dataset/{dataset_id}/version/{n}", response_class=Response, responses=RDF)
    async def version(request: Request, dataset_id: str, n: int, format: Format = None) -> Response:
        return await serve(request, f"/dataset/{dataset_id}/version/{n}", format)

    @api.get("/distribution/{dataset_id}", response_class=Response, responses=RDF)
    async def distribution(request: Request, dataset_id: str, format: Format = None) -> Response:
        return await serve(request, f"/distribution/{dataset_id}", format)

    return api
