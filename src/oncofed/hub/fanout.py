"""Send one request to many nodes at once, each with its own deadline, and say per node
what happened: ok, refused (and why), timed out, or error. A dead or slow node costs at most
its timeout and never blocks the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from oncofed.auth import envelope
from oncofed.hub.home import HubHome
from oncofed.hub.store import NodeRecord
from oncofed.hub.transports.base import NodeUnreachable, Transport

OK, REFUSED, TIMED_OUT, ERROR = "ok", "refused", "timed out", "error"


@dataclass
class NodeOutcome:
    status: str
    reason: str | None = None
    body: dict | None = None  # the node's opened answer, when it answered
    seconds: float = 0.0

    def public(self) -> dict:
        """What the researcher sees of this node's part."""
        out = {"status": self.status, "seconds": round(self.seconds, 4)}
        if self.reason:
            out["reason"] = self.reason
        if self.body and self.body.get("datasets"):
            out["datasets"] = self.body["datasets"]
        if self.body and isinstance(self.body.get("min_cell"), int):  # what "< k" means for its counts
            out["min_cell"] = self.body["min_cell"]
        return out


Exchange = Callable[[NodeRecord, dict, float], Awaitable[dict]]
Opener = Callable[[NodeRecord, dict], dict]


async def fan_out(nodes: list[NodeRecord], envelopes: dict[str, dict], exchange: Exchange, open_answer: Opener,
                  timeout: float | None = None) -> dict[str, NodeOutcome]:
    """Each node's outcome; ``timeout`` (else the node's own) bounds each node separately."""

    async def one(node: NodeRecord) -> NodeOutcome:
        limit = _limit(node, timeout)
        started = time.perf_counter()
        try:
            reply = await asyncio.wait_for(exchange(node, envelopes[node.id], limit), limit)
            body = open_answer(node, reply)
        except TimeoutError:
            return NodeOutcome(TIMED_OUT, f"no answer within {limit:g} s", seconds=time.perf_counter() - started)
        except NodeUnreachable as e:
            return NodeOutcome(ERROR, f"unreachable: {e}", seconds=time.perf_counter() - started)
        except Exception as e:  # a bad signature, a malformed answer: this node's fault, not the run's
            return NodeOutcome(ERROR, f"{type(e).__name__}: {e}", seconds=time.perf_counter() - started)
        seconds = time.perf_counter() - started
        status = body.get("status")
        if status == OK:
            return NodeOutcome(OK, body=body, seconds=seconds)
        if status == REFUSED:
            return NodeOutcome(REFUSED, str(body.get("reason", "refused")), body=body, seconds=seconds)
        return NodeOutcome(ERROR, str(body.get("reason", "the node reported an error")), body=body, seconds=seconds)

    results = await asyncio.gather(*(one(n) for n in nodes))
    return {n.id: r for n, r in zip(nodes, results)}


async def ask(nodes: list[NodeRecord], body: dict | Callable[[NodeRecord], dict], *, hub: HubHome,
              transports: Mapping[str, Transport], replay: envelope.ReplayCache,
              timeout: float | None = None) -> dict[str, NodeOutcome]:
    """Send one request (or, given a function, one per node) to each node over its own
    transport, sealed by the hub; open and check each answer: signed by that node, bound to
    its request, never replayed. Each request stays good as long as the hub waits for its
    answer, so a relay node that polls late still takes it."""
    envelopes = {n.id: envelope.seal(body(n) if callable(body) else body, hub.config.id, n.id, hub.private_key,
                                     life_s=_limit(n, timeout))
                 for n in nodes}

    async def exchange(node: NodeRecord, sealed: dict, limit: float) -> dict:
        return await transports[node.transport].exchange(node, sealed, limit)

    def open_answer(node: NodeRecord, sealed: dict) -> dict:
        return envelope.open_(sealed, hub.config.id, lambda sender: _key_of(node, sender), replay,
                              reply_to=envelopes[node.id]["nonce"])

    return await fan_out(nodes, envelopes, exchange, open_answer, timeout)


def _limit(node: NodeRecord, timeout: float | None) -> float:
    """How long the hub waits for this node: the request's timeout, never beyond the node's own."""
    return min(timeout, node.timeout_s) if timeout else node.timeout_s


def _key_of(node: NodeRecord, sender: str) -> str:
    if sender != node.id:
        raise envelope.UnknownSender(f"answer signed by {sender!r}, expected {node.id!r}")
    return node.public_key
