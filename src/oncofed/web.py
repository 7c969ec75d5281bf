"""Pieces both HTTP services (hub and node) share."""

from __future__ import annotations

import json
import os
import socket
import ssl

import httpx
from fastapi import FastAPI, HTTPException, Request

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from oncofed import tls


class LimitBody:
    """ASGI middleware refusing request bodies over ``max_bytes`` with a 413, declared or
    streamed, before an endpoint reads them (a plain ASGI wrapper: no per-request task)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._refuse(send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        response = JSONResponse({"error": f"request body too large: at most {self.max_bytes:,} bytes"},
                                status_code=413)
        await response({"type": "http"}, None, send)


class _TooLarge(Exception):
    pass


async def json_object(request: Request) -> dict:
    """A JSON object body, read as is: envelopes are checked by signature, not by a model
    (FastAPI's validation and re-encoding of a dict body cost milliseconds a request)."""
    try:
        data = json.loads(await request.body())
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "expected a JSON object")
    return data


class Error(BaseModel):
    """The body of every error either service answers outside Beacon (``error_handlers``)."""

    error: str


_MEANINGS = {
    400: "The request is malformed", 401: "No valid credentials (token or signed envelope)",
    403: "The caller may not do this", 404: "No such thing, or none the caller may see",
    406: "None of the accepted formats can be served", 409: "Not possible in its current state",
    413: "The request body is too large", 422: "The request is invalid",
    502: "A node answered with an error", 504: "A node did not answer in time",
}


def errors(*statuses: int) -> dict[int | str, dict]:
    """The OpenAPI ``responses`` of a route's error statuses, each an ``Error``; 413 (``LimitBody``)
    and 422 (the request's parameters) may answer any route."""
    return {s: {"model": Error, "description": _MEANINGS[s]} for s in sorted({413, 422, *statuses})}


def error_handlers(app: FastAPI) -> None:
    """Every error either service returns is ``{"error": "..."}``."""

    @app.exception_handler(HTTPException)
    async def _http(request: Request, e: HTTPException):
        return JSONResponse({"error": e.detail}, status_code=e.status_code, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        return JSONResponse({"error": validation_message(e)}, status_code=422)


def validation_message(e: RequestValidationError) -> str:
    """A request's first few problems, each as `where: what`."""
    parts = []
    for err in e.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


# Sending a request's headers and body as two writes, without TCP_NODELAY, stalls each request
# by the peer's delayed ACK (40 ms on Linux): every oncofed HTTP client sets it.
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def client(ca: str | os.PathLike | None = None, **kw) -> httpx.Client:
    """An HTTP client that verifies servers' certificates: the public roots plus the private CA
    ``ca`` (default: ``ONCOFED_CA_BUNDLE``); see ``oncofed.tls``."""
    return httpx.Client(transport=httpx.HTTPTransport(verify=_verify(ca), socket_options=NODELAY), **kw)


def async_client(ca: str | os.PathLike | None = None, **kw) -> httpx.AsyncClient:
    """The async twin of ``client``."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(verify=_verify(ca), socket_options=NODELAY), **kw)


def _verify(ca: object) -> ssl.SSLContext:
    if ca is False or not (ca is None or isinstance(ca, (str, os.PathLike))):
        raise TypeError("certificate verification cannot be turned off; give a CA file to trust instead")
    return tls.client_context(ca)
