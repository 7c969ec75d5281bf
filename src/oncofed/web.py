"""Pieces both HTTP services (hub and node) share."""

from __future__ import annotations

import socket

import httpx

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


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


def client(verify: bool | str = True, **kw) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(verify=verify, socket_options=NODELAY), **kw)


def async_client(verify: bool | str = True, **kw) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(verify=verify, socket_options=NODELAY), **kw)
