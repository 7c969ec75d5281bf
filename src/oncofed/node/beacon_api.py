"""The node's Beacon v2 over HTTP, under ``/api``: GET (query parameters) and POST (a
``beaconRequestBody``) on every endpoint ``/map`` lists, plus the informational documents.

Thin: it parses the request, takes the caller's access level from the bearer token (none:
public; a researcher token the node's trusted hub signed: registered; a bad one: 401) and
hands over to ``node.beacon`` under the node's lock, which analyses share. A GA4GH Passport
in the ``X-GA4GH-Passport`` header opens record level for the datasets its permits name,
as ``node.permits`` decides. Every answer,
errors included, is a Beacon document.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from oncofed.auth import tokens
from oncofed.beacon import responses
from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import PASSPORT_HEADER, parse_body, parse_get
from oncofed.node import beacon
from oncofed.node.beacon import Caller, Reply, Route
from oncofed.node.handler import Node, Refused
from oncofed.node.ratelimit import RateLimited


def router(node: Node) -> APIRouter:
    api = APIRouter()

    async def endpoint(request: Request, path: str = "") -> JSONResponse:
        """A Beacon v2 endpoint (see /api/map)."""
        info = beacon.beacon_info(node.home, str(request.url_for("endpoint", path="")).rstrip("/"))
        caller, query, route, retry = Caller("public"), None, Route(path.strip("/") or "?"), None
        try:
            caller = _caller(node, request.headers.get("authorization"), request.headers.get(PASSPORT_HEADER))
            try:
                node.buckets.take(caller.requester or f"ip:{request.client.host if request.client else '?'}")
            except RateLimited as e:
                retry = math.ceil(e.retry_after_s)
                raise BeaconError(str(e), 429) from None
            found = beacon.route_of(path)
            if found is None:
                return JSONResponse(beacon.DOCUMENTS[path.strip("/")](info))
            route = found
            query = parse_get(request.query_params.multi_items()) if request.method == "GET" \
                else parse_body(await request.body())
        except BeaconError as e:
            reply = await run_in_threadpool(_locked, node, beacon.refuse, node.con, info, route, e, caller, query)
        else:
            reply = await run_in_threadpool(_locked, node, beacon.answer, node.con, info, route, query, caller,
                                            node.home.config.guard)
        return _response(reply, retry)

    for method in ("GET", "POST"):  # a route per method, so each has its own OpenAPI operation
        api.add_api_route("", endpoint, methods=[method], include_in_schema=False)
        api.add_api_route("/{path:path}", endpoint, methods=[method], operation_id=f"beacon_{method.lower()}",
                          responses=responses.ERRORS)
    return api


def _caller(node: Node, header: str | None, passport: str | None) -> Caller:
    if header is None:
        if passport is not None:
            raise BeaconError(f"{PASSPORT_HEADER}: a Passport needs a researcher token (Authorization)", 401)
        return Caller("public")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BeaconError("Authorization: expected 'Bearer <researcher token>'", 401)
    try:
        requester = node._requester(token.strip())
    except (tokens.TokenError, Refused) as e:
        raise BeaconError(f"Authorization: {e}", 401) from None
    try:
        return Caller("registered", requester, node.grants(requester, passport))
    except (tokens.TokenError, Refused) as e:
        raise BeaconError(f"{PASSPORT_HEADER}: {e}", 401) from None


def _locked(node: Node, fn, *args) -> Reply:
    with node.lock:
        return fn(*args)


def _response(reply: Reply, retry_after_s: int | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if reply.status == 401 else None
    if retry_after_s is not None:
        headers = {"Retry-After": str(retry_after_s)}
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)

