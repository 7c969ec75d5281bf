"""The hub's Beacon v2 network over HTTP, under ``/api``: the same routes as a node's Beacon
(``/map`` lists them), GET and POST, answered by ``hub.beacon.Network``.

Thin: it parses the request with the same parser the nodes use (so a malformed one is a 400
before any node is asked), takes the caller's researcher token if there is one (none: public;
a bad one: 401) and passes it on to the nodes, which check it themselves.

Each node has ``ONCOFED_BEACON_TIMEOUT_S`` seconds (default 10, or less if the node's own
timeout is shorter) to answer; a node that has not answered by then is reported, not awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from datetime import datetime, timezone

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from oncofed.auth import tokens
from oncofed.beacon import responses
from oncofed.beacon.entry_types import ENTRY_TYPES
from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import PASSPORT_HEADER, parse_body, parse_get
from oncofed.hub import access, access_api
from oncofed.hub.beacon import TIMEOUT_S, Network

TIMEOUT_ENV = "ONCOFED_BEACON_TIMEOUT_S"



def router(researcher: Callable[..., tuple[str, str]]) -> APIRouter:
    """``researcher(request, authorization)`` is the hub's check of a researcher token."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.beacon = Network(app.state.store, app.state.hub, app.state.coordinator.transports,
                                   datetime.now(timezone.utc), float(os.environ.get(TIMEOUT_ENV, TIMEOUT_S)))
        yield

    api = APIRouter(lifespan=lifespan, tags=["beacon"])

    async def document(request: Request) -> JSONResponse:
        network: Network = request.app.state.beacon
        name = request.url.path.removeprefix("/api").strip("/")
        return JSONResponse(responses.DOCUMENTS[name](network.info(_base(request))))

    async def query(request: Request) -> JSONResponse:
        network: Network = request.app.state.beacon
        path = request.url.path.removeprefix("/api")
        info = network.info(_base(request))
        parsed = None
        try:
            token = _token(request, researcher)
            passport = request.headers.get(PASSPORT_HEADER)
            if passport is not None and token is None:
                raise BeaconError(f"{PASSPORT_HEADER}: a Passport needs a researcher token (Authorization)", 401)
            parsed = parse_get(request.query_params.multi_items()) if request.method == "GET" \
                else parse_body(await request.body())
            revoked = None
            if passport is not None:  # the newest list rides along, so a revocation takes effect at once
                try:
                    revoked = await asyncio.to_thread(access_api.revocation_list, request.app)
                except access.AccessError:  # the hub signs no permits: nothing of its to revoke
                    revoked = None
            body = await network.answer(path, parsed, token, passport, revoked, _base(request),
                                        caller=f"ip:{request.client.host}" if request.client else None)
        except BeaconError as e:
            headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
            return JSONResponse(responses.error(info, e.status, str(e), parsed), status_code=e.status,
                                headers=headers)
        return JSONResponse(body)

    def route(path: str, endpoint, **options) -> None:
        for method in ("GET", "POST"):  # a route per method: each its own OpenAPI operation
            name = "".join(c if c.isalnum() else "_" for c in path.removeprefix("/api/")) or "root"
            api.add_api_route(path, endpoint, methods=[method], operation_id=f"beacon_{name}_{method.lower()}",
                              responses=responses.ERRORS, **options)

    for name in responses.DOCUMENTS:
        route(f"/api/{name}".rstrip("/"), document, include_in_schema=bool(name))
    route("/api/filtering_terms", query)
    for e in ENTRY_TYPES.values():
        route(f"/api/{e.path}", query)
        route(f"/api/{e.path}/{{id}}", query)
        for related in [*e.related, *(["filtering_terms"] if e.collection else [])]:
            route(f"/api/{e.path}/{{id}}/{related}", query)
    return api


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/api"


def _token(request: Request, researcher) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    try:
        return researcher(request, header)[1]
    except tokens.TokenError as e:
        raise BeaconError(f"Authorization: {e}", 401) from None
