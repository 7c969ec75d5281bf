"""The hub's catalogue: each node's catalogue harvested through the same transport seam as any
other request (so nodes behind a firewall are harvested over the relay), kept in the hub store,
indexed for search.

- A harvest replaces a node's datasets with what the node answered, whole: a dataset the node
  no longer lists is gone, nothing is merged.
- A node that does not answer keeps its datasets, marked stale since the first harvest it
  missed; they are never dropped silently.
- Harvests run on demand and on a schedule. Several hub processes sharing the database agree
  through it: a process skips its scheduled harvest while every node was harvested (by it or
  another) within the interval; an on-demand harvest of some nodes postpones nobody else's.
- Harvests may overlap (on demand and scheduled, or in two processes): an answer is kept only
  if no answer to a later request is kept already, so a slow harvest never brings back an
  older catalogue.

Searching is ``hub.catalogue_search``'s, over an index of these tables.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, Text, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from oncofed.auth import envelope
from oncofed.catalogue import formats, records
from oncofed.catalogue.records import CatalogueError, DatasetRecord
from oncofed.hub.fanout import OK, REFUSED, ask
from oncofed.hub.home import HubHome
from oncofed.hub.store import HubStore, NodeRecord, _aware, now
from oncofed.hub.store import nodes as registered_nodes
from oncofed.hub.transports.base import Transport

log = logging.getLogger(__name__)

metadata = MetaData()
TIMEOUT_S = 30.0

catalogue_nodes = Table(
    "catalogue_nodes", metadata,
    Column("node_id", String(64), primary_key=True),
    Column("status", String(10), nullable=False),  # ok | stale
    Column("harvested_at", DateTime(timezone=True)),  # when the hub asked for the catalogue kept
    Column("attempted_at", DateTime(timezone=True), nullable=False),  # when the last harvest was written
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

HELD = (catalogue_datasets.c.node_id, catalogue_nodes.c.node_id)  # what goes with a removed node


class CatalogueStore:
    """The harvested catalogue in the hub's database (SQLite or PostgreSQL, as the hub store)."""

    def __init__(self, store: HubStore):
        self.store, self.engine = store, store.engine

    def replace(self, node: NodeRecord, found: list[DatasetRecord], base: str, text: str,
                asked: datetime | None = None) -> bool:
        """Make ``found`` the node's whole catalogue, in one transaction, unless an answer to a
        request later than ``asked`` (default: now) is kept already. Whether it was kept."""
        t = now()
        with self.store._write() as c:  # the hub store's writer (SQLite: one at a time)
            row = _claim(c, node.id, t)
            if row is None or _newer(row.harvested_at, asked or t):
                return False
            c.execute(delete(catalogue_datasets).where(catalogue_datasets.c.node_id == node.id))
            if found:
                c.execute(catalogue_datasets.insert(), [
                    {"id": r.id, "node_id": node.id, "record": r.to_json() | {"held_in": node.country}}
                    for r in found])
            c.execute(catalogue_nodes.update().where(catalogue_nodes.c.node_id == node.id).values(
                status="ok", harvested_at=asked or t, attempted_at=t, stale_since=None, error=None, base=base,
                catalogue=text))
        return True

    def missed(self, node_id: str, reason: str, asked: datetime | None = None) -> bool:
        """A harvest the node did not answer: its datasets stay, stale since the first miss;
        nothing changes if an answer to a later request is kept. Whether it was recorded."""
        t = now()
        with self.store._write() as c:
            row = _claim(c, node_id, t)
            if row is None or _newer(row.harvested_at, asked or t):
                return False
            c.execute(catalogue_nodes.update().where(catalogue_nodes.c.node_id == node_id)
                      .values(status="stale", attempted_at=t, error=reason, stale_since=row.stale_since or t))
        return True

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

    def attempts(self) -> dict[str, datetime]:
        """Per node: when a harvest (by any hub process) last recorded an answer or a miss."""
        with self.engine.connect() as c:
            rows = c.execute(select(catalogue_nodes.c.node_id, catalogue_nodes.c.attempted_at)).all()
        return {r.node_id: _aware(r.attempted_at) for r in rows}


def _claim(c: Connection, node_id: str, t: datetime):
    """The node's harvest row (made on its first harvest), locked until the transaction ends,
    so that harvests writing the same node at once, in any hub process, write one after the
    other and each sees what the one before kept; None for a node no longer registered (a
    harvest that was under way as it was removed keeps nothing)."""
    still = select(registered_nodes.c.id).where(registered_nodes.c.id == node_id).with_for_update(read=True)
    if c.execute(still).first() is None:
        return None
    insert = postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert
    c.execute(insert(catalogue_nodes).values(node_id=node_id, status="stale", attempted_at=t)
              .on_conflict_do_nothing(index_elements=["node_id"]))
    return c.execute(select(catalogue_nodes.c.harvested_at, catalogue_nodes.c.stale_since)
                     .where(catalogue_nodes.c.node_id == node_id).with_for_update()).one()


def _newer(kept: datetime | None, asked: datetime) -> bool:
    return kept is not None and _aware(kept) > asked


def due_in(attempts: list[datetime | None], interval_s: float, at: datetime) -> float:
    """Seconds until the schedule is due (0 or less: now), given when each registered node was
    last harvested: due once the least recent is ``interval_s`` old, at once for a node never
    harvested."""
    if not attempts or any(a is None for a in attempts):
        return 0.0
    return (min(attempts) + timedelta(seconds=interval_s) - at).total_seconds()


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
        asked = now()  # what each answer is as of: a later request's answer wins
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
                                        outcome.body["catalogue"], asked)
                await asyncio.to_thread(self.store.seen, node.id)
                summary[node.id] = {"status": OK, "datasets": len(found)}
            except CatalogueError as e:
                status = outcome.status if outcome.status != OK else "error"
                await asyncio.to_thread(self.catalogue.missed, node.id, str(e), asked)
                if status != REFUSED:
                    await asyncio.to_thread(self.store.failed, node.id, f"catalogue harvest: {e}")
                summary[node.id] = {"status": status, "reason": str(e)}
        return summary

    async def scheduled(self, interval_s: float) -> float:
        """One turn of the schedule: harvest every node if one was not harvested within the
        interval (by this hub process or another); the seconds until the next turn."""
        registered = await asyncio.to_thread(self.store.nodes)
        attempts = await asyncio.to_thread(self.catalogue.attempts)
        wait = due_in([attempts.get(n.id) for n in registered], interval_s, now())
        if wait > 0:
            return wait
        log.info("scheduled catalogue harvest: %s", await self.harvest())
        return interval_s

    async def every(self, interval_s: float) -> None:
        """Harvest on a schedule (``scheduled``), from start-up on."""
        while True:
            try:
                wait = await self.scheduled(interval_s)
            except Exception:  # the database or a node may be briefly away: try again next time
                log.exception("scheduled catalogue harvest failed")
                wait = interval_s
            await asyncio.sleep(max(wait, 0.05))


def _read(body: dict, node_id: str) -> list[DatasetRecord]:
    fmt = body.get("format")
    if fmt not in formats.FORMATS or not isinstance(body.get("catalogue"), str) or not body.get("base"):
        raise CatalogueError("the node's answer holds no catalogue")
    try:
        graph = formats.parse(body["catalogue"], fmt)
    except Exception as e:  # a parser's own error: the node sent something that is not RDF
        raise CatalogueError(f"the node's catalogue is not valid {fmt}: {e}") from None
    return records.datasets(graph, node_id)
