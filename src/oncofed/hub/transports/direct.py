"""Direct transport: the hub calls the node's own HTTP(S) endpoint."""

from __future__ import annotations

import httpx

from oncofed import tls
from oncofed.hub.store import NodeRecord
from oncofed.hub.transports.base import NodeUnreachable

PATH = "/node/requests"


class DirectTransport:
    """Posts the envelope to the node's URL with the hub's shared client, which verifies an
    https node's certificate (see ``oncofed.tls``); a certificate the hub does not trust makes
    the node unreachable, with the reason, like any other failure to connect."""

    def __init__(self, client: httpx.AsyncClient):
        self._client = client

    async def exchange(self, node: NodeRecord, envelope: dict, timeout: float) -> dict:
        try:
            response = await self._client.post(node.url.rstrip("/") + PATH, json=envelope, timeout=timeout)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.HTTPError as e:
            raise NodeUnreachable(tls.failure(e, "the node") or f"{type(e).__name__}: {e}") from None
        if response.status_code != 200:
            raise NodeUnreachable(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            raise NodeUnreachable("the node's reply is not JSON") from None
