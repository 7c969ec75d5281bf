"""The hub's catalogue: each node's catalogue harvested through the same transport seam as any
other request (so nodes behind a firewall are harvested over the relay), kept in the hub store,
indexed for search.

- A harvest replaces a node's datasets with what the node answered, whole: a dataset the node
  no longer lists is gone, nothing is merged.
- A node that does not answer keeps its datasets, marked stale since the first harvest it
  missed; they are never dropped silently.
- Harvests run on demand and on a schedule. Several hub processes sharing the database agree
  through it: a process skips its scheduled harvest when another one ran within the interval.

Searching is ``hub.catalogue_search``'s, over an index of these tables.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, Text, delete, func, select
from sqlalchemy.engine import Engine

from oncofed.auth import envelope
from oncofed.catalogue import formats, records
from oncofed.catalogue.records import CatalogueError, DatasetRecord
from oncofed.hub.fanout import OK, REFUSED, ask
from oncofed.hub.home import HubHome
from oncofed.hub.store import HubStore, NodeRecord, _aware, now
from oncofed.hub.transports.base import Transport

log = logging.getLogger(__name__)

metadata = MetaData()
TIMEOUT_S = 30.0

catalogue_nodes = Table(
    "catalogue_nodes", metadata,
    Column("node_id", String(64), primary_key=True),
    Column("status", String(10), nullable=False),  # ok | stale
    Column("harvested_at", DateTime(timezone=True)),  # the last harvest the node answered
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("stale_since", DateTime(timezone=True)),
    Column("error", Text),
    Column("base", String(500)),
    Column("catalogue", Text),  # the Turtle the node answered, as harvested
)

catalogue_datasets = Table(
    "catalogue_datasets", metadata,
    Column("id", String(140), primary_key=True),  # node/dataset
    Column("node_id", String(64), nullable=False, index=True),
    Column("record", JSON, nullable=False),  # catalogue.records.DatasetRecord, and where it is held
)


class CatalogueStore:
    """The harvested catalogue in the hub's database (SQLite or PostgreSQL, as the hub store)."""

    def __init__(self, store: HubStore):
        self.store, self.engine = store, store.engine

    def replace(self, node: NodeRecord, found: list[DatasetRecord], base: str, text: str) -> None:
        """Make ``found`` the node's whole catalogue, in one transaction."""
        t = now()
        with self.store._write() as c:  # the hub store's writer (SQLite: one at a time)
            c.execute(delete(catalogue_datasets).where(catalogue_datasets.c.node_id == node.id))
            if found:
                c.execute(catalogue_datasets.insert(), [
                    {"id": r.id, "node_id": node.id, "record": r.to_json() | {"held_in": node.country}}
                    for r in found])
            c.execute(delete(catalogue_nodes).where(catalogue_nodes.c.node_id == node.id))
            c.execute(catalogue_nodes.insert().values(node_id=node.id, status="ok", harvested_at=t, attempted_at=t,
                                                      stale_since=None, error=None, base=base, catalogue=text))

    def missed(self, node_id: str, reason: str) -> None:
        """A harvest the node did not answer: its datasets stay, stale since the first miss."""
        t = now()
        with self.store._write() as c:
            row = c.execute(select(catalogue_nodes.c.stale_since, catalogue_nodes.c.status)
                            .where(catalogue_nodes.c.node_id == node_id)).first()
            if row is None:
                c.execute(catalogue_nodes.insert().values(node_id=node_id, status="stale", attempted_at=t,
                                                          stale_since=t, error=reason))
            else:
                c.execute(catalogue_nodes.update().where(catalogue_nodes.c.node_id == node_id)
                          .values(status="stale", attempted_at=t, error=reason, stale_since=row.stale_since or t))

    def nodes(self) -> list[dict]:
        """Per node: harvest status, when, since when stale, the last error."""
        with self.engine.connect() as c:
            rows = c.execute(select(catalogue_nodes.c.node_id, catalogue_nodes.c.status,
                                    catalogue_nodes.c.harvested_at, catalogue_nodes.c.attempted_at,
                                    catalogue_nodes.c.stale_since, catalogue_nodes.c.error,
                                    catalogue_nodes.c.base).order_by(catalogue_nodes.c.node_id)).mappings().all()
        return [{k: _aware(v) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]

    def harvested(self, node_id: str) -> str | None:
        """The catalogue a node last answered, as harvested (Turtle)."""
        with self.engine.connect() as c:
            return c.execute(select(catalogue_nodes.c.catalogue).where(catalogue_nodes.c.node_id == node_id)).scalar()

    def last_attempt(self) -> datetime | None:
        with self.engine.connect() as c:
            return _aware(c.execute(select(func.max(catalogue_nodes.c.attempted_at))).scalar())


def generation(engine: Engine) -> tuple:
    """Changes whenever a harvest changed anything (what a search index is built from)."""
    with engine.connect() as c:
        return tuple(c.execute(select(func.count(), func.max(catalogue_nodes.c.attempted_at))).one())


def stored(engine: Engine, dataset_id: str | None = None) -> list[tuple[dict, str | None, datetime | None]]:
    """Every dataset's record (or the one asked for), with its node's harvest status and since
    when it is stale."""
    d, n = catalogue_datasets, catalogue_nodes
    query = select(d.c.record, n.c.status, n.c.stale_since).select_from(d.outerjoin(n, n.c.node_id == d.c.node_id))
    if dataset_id is not None:
        query = query.where(d.c.id == dataset_id)
    with engine.connect() as c:
        rows = c.execute(query).all()
    return [(r.record, r.status, _aware(r.stale_since)) for r in rows]


class Harvester:
    """Asks every registered node for its catalogue through its transport, and keeps the answers."""

    def __init__(self, store: HubStore, hub: HubHome, transports: Mapping[str, Transport]):
        self.store, self.hub, self.transports = store, hub, transports
        self.catalogue = CatalogueStore(store)
        self.replay = envelope.ReplayCache()

    async def harvest(self, nodes: list[str] | None = None, timeout: float = TIMEOUT_S) -> dict[str, dict]:
        """Harvest (some) nodes; per node: ok with its number of datasets, or why not."""
        registered = await asyncio.to_thread(self.store.nodes)
        wanted = [n for n in registered if nodes is None or n.id in nodes]
        outcomes = await ask(wanted, lambda n: {"kind": "catalogue", "format": "turtle",
                                                **({"base": n.url} if n.url else {})},
                             hub=self.hub, transports=self.transports, replay=self.replay, timeout=timeout)
        summary = {}
        for node in wanted:
            outcome = outcomes[node.id]
            try:
                if outcome.status != OK:
                    raise CatalogueError(outcome.reason or outcome.status)
                found = _read(outcome.body, node.id)
                await asyncio.to_thread(self.catalogue.replace, node, found, outcome.body["base"],
                                        outcome.body["catalogue"])
                await asyncio.to_thread(self.store.seen, node.id)
                summary[node.id] = {"status": OK, "datasets": len(found)}
            except CatalogueError as e:
                status = outcome.status if outcome.status != OK else "error"
                await asyncio.to_thread(self.catalogue.missed, node.id, str(e))
                if status != REFUSED:
                    await asyncio.to_thread(self.store.failed, node.id, f"catalogue harvest: {e}")
                summary[node.id] = {"status": status, "reason": str(e)}
        return summary

    async def every(self, interval_s: float) -> None:
        """Harvest on a schedule, unless another hub process harvested within the interval."""
        while True:
            try:
                last = await asyncio.to_thread(self.catalogue.last_attempt)
                due = 0.0 if last is None else (last + timedelta(seconds=interval_s) - now()).total_seconds()
                if due <= 0:
                    log.info("scheduled catalogue harvest: %s", await self.harvest())
                    due = interval_s
            except Exception:  # the database or a node may be briefly away: try again next time
                log.exception("scheduled catalogue harvest failed")
                due = interval_s
            await asyncio.sleep(max(due, 0.05))


def _read(body: dict, node_id: str) -> list[DatasetRecord]:
    fmt = body.get("format")
    if fmt not in formats.FORMATS or not isinstance(body.get("catalogue"), str) or not body.get("base"):
        raise CatalogueError("the node's answer holds no catalogue")
    try:
        graph = formats.parse(body["catalogue"], fmt)
    except Exception as e:  # a parser's own error: the node sent something that is not RDF
        raise CatalogueError(f"the node's catalogue is not valid {fmt}: {e}") from None
    return records.datasets(graph, node_id)
