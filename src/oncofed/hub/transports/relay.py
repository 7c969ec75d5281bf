"""Relay transport, for nodes that accept no inbound connection: the request waits in the
hub store until the node's agent polls for it, and the answer comes back the same way.

Because the queue is in the database, a request survives a hub restart, and any hub process
sharing the database can hand it to the node's poll. A process that queued a request learns of
the answer at once when the answer reaches the same process, and within ``poll_interval``
otherwise.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

from oncofed.hub.store import HubStore, NodeRecord
from oncofed.hub.transports.base import NodeUnreachable


class RelayQueue:
    """Wakes waiting polls and exchanges within this process; the store is the truth."""

    def __init__(self, store: HubStore, poll_interval: float = 0.02):
        self.store, self.poll_interval = store, poll_interval
        self._queued: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._answered: dict[str, asyncio.Event] = {}

    def notify_queued(self, node_id: str) -> None:
        self._queued[node_id].set()

    def notify_answered(self, request_id: str) -> None:
        if (e := self._answered.get(request_id)) is not None:
            e.set()

    def expect(self, request_id: str) -> asyncio.Event:
        return self._answered.setdefault(request_id, asyncio.Event())

    def forget(self, request_id: str) -> None:
        self._answered.pop(request_id, None)

    async def wait_queued(self, node_id: str, timeout: float) -> None:
        event = self._queued[node_id]
        try:
            await asyncio.wait_for(event.wait(), min(timeout, self.poll_interval * 10))
        except TimeoutError:
            pass
        event.clear()

    async def claim(self, node_id: str, wait: float, lease_s: float,
                    gone: Callable[[], Awaitable[bool]] | None = None) -> list[tuple[str, dict]]:
        """Requests for a node, waiting up to ``wait`` seconds for the first (a long poll).
        ``gone``: whether the poller has hung up; a dead node's poll claims nothing, since what
        it claimed would wait out its lease undelivered while the hub waits for an answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if gone is not None and await gone():
                return []
            claimed = await asyncio.to_thread(self.store.claim, node_id, lease_s)
            left = deadline - loop.time()
            if claimed or left <= 0:
                return claimed
            await self.wait_queued(node_id, left)


class RelayTransport:
    def __init__(self, queue: RelayQueue):
        self.queue = queue

    async def exchange(self, node: NodeRecord, envelope: dict, timeout: float) -> dict:
        store = self.queue.store
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # The request expires when its caller gives up, and the store refuses an answer after
        # that: the fan-out cancels this exchange at its timeout, so the drop below may not run.
        # Time spent waiting for a thread counts against the request's life.
        request_id = await asyncio.to_thread(lambda: store.enqueue(node.id, envelope, deadline - loop.time()))
        answered = self.queue.expect(request_id)
        self.queue.notify_queued(node.id)
        try:
            while True:
                status, answer = await asyncio.to_thread(store.answer_of, request_id)
                if answer is not None:
                    return answer
                if status == "removed":
                    raise NodeUnreachable("the node was unregistered from the hub while its request waited")
                left = deadline - loop.time()
                if left <= 0 or status in ("expired", "missing"):
                    await asyncio.to_thread(store.drop, request_id)
                    raise TimeoutError
                try:
                    await asyncio.wait_for(answered.wait(), min(left, self.queue.poll_interval * 5))
                except TimeoutError:
                    pass
        finally:
            self.queue.forget(request_id)
