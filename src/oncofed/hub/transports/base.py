"""The one seam between the hub and a node: hand over a sealed request, get the sealed answer.

Above it (fan-out, the analysis coordinator) nothing knows whether a node is called directly
over HTTP(S) or waits behind a firewall for the hub's relay queue; below it, a transport
moves envelopes and does not open, judge or change them.
"""

from __future__ import annotations

from typing import Protocol

from oncofed.hub.store import NodeRecord


class NodeUnreachable(Exception):
    """The transport could not deliver or fetch (connection refused, HTTP error, bad reply)."""


class Transport(Protocol):
    async def exchange(self, node: NodeRecord, envelope: dict, timeout: float) -> dict:
        """The node's answer envelope; TimeoutError after ``timeout`` seconds, NodeUnreachable
        when the node cannot be reached."""
