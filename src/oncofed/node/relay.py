"""The relay agent: for a node behind a firewall that allows only outbound connections, it
long-polls the hub for requests and posts the answers back. The node opens no port.

It outlives the hub: when the hub is away it retries with a growing pause (up to
``MAX_BACKOFF_S``) and carries on as soon as the hub is back. Over https it verifies the hub's
certificate (the public roots plus the private CA ``ca``, see ``oncofed.tls``); a certificate it
cannot trust is logged as an error and retried like an absent hub, since the hub's operator may
yet fix it, but nothing is sent to that hub meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os

import httpx

from oncofed import tls
from oncofed.auth import envelope
from oncofed.node.handler import Node
from oncofed.web import async_client

log = logging.getLogger(__name__)

POLL_WAIT_S = 20.0
MAX_BACKOFF_S = 5.0


async def run(node: Node, hub_url: str, stop: asyncio.Event, ca: str | os.PathLike | None = None) -> None:
    hub = node.home.config.hub
    base = hub_url.rstrip("/")
    backoff = 0.1
    async with async_client(ca, timeout=httpx.Timeout(10.0, read=POLL_WAIT_S + 10)) as client:
        while not stop.is_set():
            poll = envelope.seal({"kind": "poll"}, node.home.id, hub.id, node.home.private_key)
            try:
                response = await client.post(f"{base}/api/relay/poll", json=poll, params={"wait": POLL_WAIT_S})
                if response.status_code == 401:  # the hub is there, but does not take this node
                    raise Unrecognised(f"the hub refuses this node ({response.text[:200]}): is it registered "
                                       f"there as {node.home.id!r} with this node's key (`oncofed hub add-node`)?")
                if response.status_code != 200:
                    raise httpx.HTTPStatusError(f"HTTP {response.status_code}: {response.text[:200]}",
                                                request=response.request, response=response)
                backoff = 0.1
                for request in response.json()["requests"]:
                    answer = await asyncio.to_thread(_answer, node, request["envelope"])
                    await _post_answer(client, base, request["id"], answer)
            except Unrecognised as e:
                log.error("hub %s: %s; retrying in %.1f s", base, e, backoff)
                await _pause(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except (httpx.HTTPError, ValueError, KeyError) as e:
                if (problem := tls.failure(e, "the hub")) is not None:
                    log.error("hub %s: %s; retrying in %.1f s", base, problem, backoff)
                else:
                    log.warning("hub %s unavailable (%s); retrying in %.1f s", base, e, backoff)
                await _pause(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)


class Unrecognised(Exception):
    """The hub answers, but not to this node: unregistered, or registered with another key."""


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


def _answer(node: Node, sealed: dict) -> dict:
    try:
        return node.handle(sealed)
    except envelope.EnvelopeError as e:
        hub = node.home.config.hub
        return envelope.seal({"status": "refused", "reason": f"request refused: {e}"}, node.home.id, hub.id,
                             node.home.private_key, reply_to=sealed.get("nonce"))


async def _post_answer(client: httpx.AsyncClient, base: str, request_id: str, answer: dict) -> None:
    response = await client.post(f"{base}/api/relay/answer", json={"request_id": request_id, "envelope": answer})
    if response.status_code == 409:  # the hub gave up on it (expired): nothing to do
        log.info("answer to %s no longer wanted: %s", request_id, response.text[:200])
    elif response.status_code != 200:
        raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
