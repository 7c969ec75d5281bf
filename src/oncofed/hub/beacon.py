"""The hub as a Beacon network: one Beacon v2 request, fanned out to every node over its own
transport (direct or relay) as a signed ``beacon`` request, and the nodes' answers merged into
one Beacon response.

Each node answers at the caller's level and has already passed its answer through its own
guard; the hub only combines. Merging never makes an answer finer than its parts:

- ``exists`` is true when any node says so;
- the network answers at the coarsest granularity any answering node returned, so when one
  node withheld a small count (answering boolean), the network answers boolean too and gives
  the released part only as ``info.atLeast`` — never a total from which the withheld count
  could be recovered by subtraction; the exception is record level, which only a permit
  opens: when some nodes return records (of the datasets the caller's Passport opens), the
  answer is those records, and what the other nodes said stays in ``info.nodes``;
- result sets and collections are concatenated, each dataset named ``<node>:<dataset>``, as
  dataset ids are only unique within a node.

Every answer says, in ``info.nodes``, what each node did: ok, refused (and why), timed out, or
error. A node that times out never fails the whole answer. When every node refused the request
for the same reason (an unknown filter term, a malformed query), that is the caller's error,
returned as a Beacon error with the nodes' 4xx status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import oncofed
from oncofed.auth import envelope
from oncofed.beacon import responses
from oncofed.beacon.entry_types import ENTRY_TYPES, RECORDS
from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import BeaconQuery
from oncofed.beacon.responses import BeaconInfo
from oncofed.hub.fanout import OK, REFUSED, NodeOutcome, ask
from oncofed.hub.home import HubHome
from oncofed.hub.store import HubStore, NodeRecord
from oncofed.hub.transports.base import Transport

TIMEOUT_S = 10.0
_FINENESS = {"boolean": 0, "count": 1, "record": 2}


def beacon_info(hub: HubHome, created: datetime, url: str = "") -> BeaconInfo:
    return BeaconInfo(id=f"urn:oncofed:hub:{hub.config.id}", name=f"{hub.config.name} Beacon network",
                      organization_id=hub.config.id, organization=hub.config.name,
                      description="GA4GH Beacon v2 network over every node of this oncofed federation",
                      created=created, software_version=oncofed.__version__, url=url)


def split_id(value: str, nodes: set[str]) -> tuple[str | None, str]:
    """A network id ``<node>:<id>`` as (node, id); an id naming no node is anyone's."""
    node, sep, rest = value.partition(":")
    return (node, rest) if sep and node in nodes else (None, value)


@dataclass(frozen=True)
class Plan:
    """Which nodes a request goes to, and the path and query each gets."""

    nodes: list[NodeRecord]
    path: str
    query: BeaconQuery


def plan(path: str, query: BeaconQuery, nodes: list[NodeRecord]) -> Plan:
    """Route a network request: a ``<node>:<id>`` in the path or among the requested datasets
    narrows it to those nodes (with the node-local ids); pages are asked from the start, as
    the hub pages over the concatenation."""
    known = {n.id for n in nodes}
    parts = path.strip("/").split("/")
    wanted: set[str] | None = None
    if len(parts) >= 2:
        node, local = split_id(parts[1], known)
        if node is not None:
            wanted, parts[1] = {node}, local
    datasets = query.datasets
    if datasets is not None:
        named = [split_id(d, known) for d in datasets]
        if all(node is not None for node, _ in named):
            wanted = (wanted or known) & {node for node, _ in named}
        datasets = tuple(local for _, local in named)
    forwarded = query.model_copy(update={"datasets": datasets, "skip": 0,
                                         "limit": query.offset + query.page_size})
    chosen = [n for n in nodes if wanted is None or n.id in wanted]
    return Plan(chosen, "/" + "/".join(parts), forwarded)


def merge(beacon: BeaconInfo, path: str, query: BeaconQuery, outcomes: Mapping[str, NodeOutcome]) -> dict[str, Any]:
    """One Beacon response from the nodes' answers (see the module's docstring); BeaconError
    when every node refused the request alike."""
    answers = {node: o.body["beacon"] for node, o in outcomes.items() if o.status == OK and o.body}
    info = {"nodes": {node: _status(o) for node, o in sorted(outcomes.items())}}
    _refused_by_all(outcomes)
    parts = path.strip("/").split("/")
    if parts[-1] == "filtering_terms":
        return responses.filtering_terms(beacon, _union_terms(answers))
    target = ENTRY_TYPES[parts[2] if len(parts) == 3 else parts[0]]
    if target.path not in RECORDS:
        return _collections(beacon, query, target, answers, info)
    records = {n: a for n, a in answers.items() if a["meta"]["returnedGranularity"] == "record"}
    if records:  # the datasets the caller holds permits for; the other nodes' answers are in info.nodes
        answers = records
    fineness = min((_FINENESS[a["meta"]["returnedGranularity"]] for a in answers.values()), default=0)
    granularity = next(g for g, f in _FINENESS.items() if f == fineness)
    meta = responses.meta(beacon, query, target, granularity)
    exists = any(a["responseSummary"]["exists"] for a in answers.values())
    counted = {n: a["responseSummary"].get("numTotalResults") for n, a in answers.items()}
    released = sum(n for n in counted.values() if n is not None)
    if granularity == "boolean":
        if any(n is not None for n in counted.values()):
            info["atLeast"] = released
        return responses.boolean(meta, exists, info)
    if granularity == "count":
        return responses.count(meta, released, info)
    sets = [s | {"id": f"{node}:{s['id']}"} for node, a in sorted(answers.items())
            for s in a.get("response", {}).get("resultSets", [])]
    for s in sets:
        s["results"] = s["results"][:query.offset + query.page_size]
    return responses.result_sets(meta, released, _page_sets(sets, query), info)


def _page_sets(sets: list[dict], query: BeaconQuery) -> list[dict]:
    """The caller's page of the concatenated records, each set keeping its own records."""
    start, room, out = query.offset, query.page_size, []
    for s in sets:
        take = s["results"][start:start + room] if room else []
        start = max(0, start - len(s["results"]))
        room -= len(take)
        out.append(s | {"results": take})
    return out


def _collections(beacon: BeaconInfo, query: BeaconQuery, target, answers: dict, info: dict) -> dict[str, Any]:
    records = [c | {"id": f"{node}:{c['id']}"} for node, a in sorted(answers.items())
               for c in a.get("response", {}).get("collections", [])]
    meta = responses.meta(beacon, query, target, "record")
    doc = responses.collections(meta, records[query.offset:query.offset + query.page_size], len(records))
    doc["info"] = info
    return doc


def _union_terms(answers: dict) -> list[dict]:
    terms: dict[str, dict] = {}
    for a in answers.values():
        for t in a.get("response", {}).get("filteringTerms", []):
            known = terms.setdefault(t["id"], dict(t))
            if "scopes" in t:
                known["scopes"] = sorted(set(known.get("scopes", [])) | set(t["scopes"]))
    return [terms[k] for k in sorted(terms)]


def _status(o: NodeOutcome) -> dict[str, Any]:
    out = o.public()
    beacon = (o.body or {}).get("beacon") if o.status == OK else None
    if beacon:
        out["granularity"] = beacon["meta"]["returnedGranularity"]
        summary = beacon.get("responseSummary") or {}
        if "exists" in summary:  # what the node released to this caller, kept when the records of others are shown
            out["exists"] = summary["exists"]
        if summary.get("numTotalResults") is not None:
            out["count"] = summary["numTotalResults"]
    return out


def _refused_by_all(outcomes: Mapping[str, NodeOutcome]) -> None:
    refusals = [o for o in outcomes.values() if o.status == REFUSED]
    if outcomes and len(refusals) == len(outcomes):
        reasons = {o.reason for o in refusals}
        error = (refusals[0].body or {}).get("beacon", {}).get("error", {})
        status = int(error.get("errorCode", 400))
        if len(reasons) == 1 and 400 <= status < 500:
            raise BeaconError(refusals[0].reason or "refused", status)


class Network:
    """The hub's Beacon network: its nodes, the transports that reach them, and who it is."""

    def __init__(self, store: HubStore, hub: HubHome, transports: Mapping[str, Transport], created: datetime,
                 timeout: float = TIMEOUT_S):
        self.store, self.hub, self.transports, self.created, self.timeout = store, hub, transports, created, timeout
        self.replay = envelope.ReplayCache()

    def info(self, url: str = "") -> BeaconInfo:
        return beacon_info(self.hub, self.created, url)

    async def answer(self, path: str, query: BeaconQuery, token: str | None, passport: str | None = None,
                     revocations: str | None = None, url: str = "", caller: str | None = None) -> dict[str, Any]:
        """The merged answer of every node concerned; BeaconError for the caller's mistakes.
        A Passport goes to every node with the token, and the hub's current signed revocation
        list with it: each node checks both itself and decides what it opens. An anonymous
        ``caller`` (its address) goes along, so that each node limits anonymous callers one
        by one, not all of the hub's together."""
        nodes = await asyncio.to_thread(self.store.nodes)
        p = plan(path, query, nodes)
        body = {"kind": "beacon", "beacon": {"path": p.path, "query": p.query.to_body()}}
        if token is not None:
            body["token"] = token
        elif caller is not None:
            body["caller"] = caller
        if passport is not None:
            body["passport"] = passport
        if revocations is not None:
            body["revocations"] = revocations
        outcomes = await ask(p.nodes, body, hub=self.hub, transports=self.transports, replay=self.replay,
                             timeout=self.timeout)
        return merge(self.info(url), path, query, outcomes)
