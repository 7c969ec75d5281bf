"""The hub's state (SQLAlchemy): registered nodes and their health, users, analysis runs, and
the relay queue of requests waiting for nodes that can only call out.

SQLite by default, PostgreSQL in production. Everything a run needs to survive a hub restart
is here: queued relay requests wait in ``relay_requests`` until a node polls, and a run's
state is saved after every round, so another hub process can resume it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, Text, create_engine, delete, event,
    select, update,
)
from sqlalchemy.engine import Engine

from oncofed.auth import keys
from oncofed.errors import OncofedError

metadata = MetaData()
SEEN_EVERY_S = 1.0

nodes = Table(
    "nodes", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("transport", String(10), nullable=False),  # direct | relay
    Column("url", String(500)),  # direct only
    Column("public_key", String(100), nullable=False),  # Ed25519, base64url
    Column("timeout_s", Integer, nullable=False, default=30),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
    # the newest head of the node's audit log it signed in an answer: a steward checks the log
    # against it (`oncofed node audit --verify --anchor`), so no entry before it can vanish unseen
    Column("audit_seq", BigInteger),
    Column("audit_hash", String(64)),
    Column("audit_at", DateTime(timezone=True)),
)

users = Table(
    "users", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("level", String(20), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

relay_requests = Table(
    "relay_requests", metadata,
    Column("id", String(36), primary_key=True),
    Column("node_id", String(64), nullable=False, index=True),
    Column("status", String(10), nullable=False, index=True),  # queued | claimed | answered | expired | removed
    Column("envelope", Text, nullable=False),
    Column("answer", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("answered_at", DateTime(timezone=True)),
)

runs = Table(
    "runs", metadata,
    Column("id", String(36), primary_key=True),
    Column("requester", String(64), nullable=False, index=True),
    Column("analysis", String(64), nullable=False),
    Column("version", String(20), nullable=False),
    Column("request", JSON, nullable=False),
    Column("token", Text, nullable=False),  # forwarded to nodes, which check it themselves
    Column("status", String(10), nullable=False, index=True),  # running | done | failed
    Column("round", Integer, nullable=False, default=0),
    Column("state", JSON, nullable=False),
    Column("per_node", JSON, nullable=False),
    Column("result", JSON),
    Column("error", Text),
    Column("owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(t: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    return t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t


class HubStoreError(OncofedError):
    pass


@dataclass(frozen=True)
class NodeRecord:
    id: str
    name: str
    country: str
    transport: str
    url: str | None
    public_key: str
    timeout_s: int
    added_at: datetime
    last_seen: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    audit_seq: int | None = None
    audit_hash: str | None = None
    audit_at: datetime | None = None


_NODE_FIELDS = ("name", "country", "transport", "url", "public_key", "timeout_s")
TIMEOUT_MAX_S = 600  # as long as a researcher may ask the hub to wait


def _node_values(*, name: str, country: str, transport: str, public_key: str, url: str | None,
                 timeout_s: int) -> dict[str, Any]:
    """A node's registration, checked: HubStoreError names what is wrong."""
    if transport not in ("direct", "relay"):
        raise HubStoreError(f"unknown transport {transport!r}; expected direct or relay")
    if transport == "direct" and not url:
        raise HubStoreError("a direct node needs --url, where the hub can reach it")
    if url is not None and not (url.startswith(("http://", "https://")) and len(url) <= 500):
        raise HubStoreError(f"--url: expected an http:// or https:// address of at most 500 characters, not {url!r}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or not 1 <= timeout_s <= TIMEOUT_MAX_S:
        raise HubStoreError(f"timeout: expected whole seconds from 1 to {TIMEOUT_MAX_S}, not {timeout_s!r}")
    if not (isinstance(country, str) and len(country) == 2 and country.isalpha()):
        raise HubStoreError(f"country: expected an ISO 3166 two-letter code, not {country!r}")
    try:
        keys.public_key(public_key)
    except (keys.KeyFormatError, ValueError) as e:
        raise HubStoreError(f"public key: {e}") from None
    return {"name": name, "country": country.upper(), "transport": transport, "url": url,
            "public_key": public_key, "timeout_s": timeout_s}


def _write_ahead_log(dbapi_con, wait_s: float = 30.0) -> None:
    """Switch a SQLite database to WAL (a lasting property of the file). SQLite answers "database
    is locked" at once, without its busy handler, to a connection that asks while another holds
    the file, as when hub workers open a new database together; so ask again until it is free."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            dbapi_con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_con, _record):  # several processes share the file
            dbapi_con.execute("PRAGMA busy_timeout=30000")
            _write_ahead_log(dbapi_con)
            dbapi_con.execute("PRAGMA synchronous=NORMAL")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class HubStore:
    def __init__(self, url: str):
        self.url = url
        self.engine = engine_for(url)
        # SQLite lets one writer in at a time and makes the others sleep in its busy handler
        # (in steps of up to 100 ms); queueing this process's writers on a lock instead keeps
        # the relay queue's latency in milliseconds. PostgreSQL needs no such help.
        self._lock = threading.Lock() if url.startswith("sqlite") else contextlib.nullcontext()
        self._seen: dict[str, float] = {}
        self._anchored: dict[str, float] = {}
        from oncofed.hub import schema  # which imports this module's tables and the others'

        schema.upgrade(self.engine)

    @contextlib.contextmanager
    def _write(self):
        with self._lock, self.engine.begin() as c:
            yield c

    def dispose(self) -> None:
        self.engine.dispose()

    # nodes --------------------------------------------------------------------------------

    def add_node(self, node_id: str, name: str, country: str, transport: str, public_key: str,
                 url: str | None = None, timeout_s: int = 30) -> NodeRecord:
        values = _node_values(name=name, country=country, transport=transport, public_key=public_key, url=url,
                              timeout_s=timeout_s)
        with self._write() as c:
            if c.execute(select(nodes.c.id).where(nodes.c.id == node_id)).first():
                raise HubStoreError(f"node {node_id!r} is already registered")
            c.execute(nodes.insert().values(id=node_id, added_at=now(), **values))
        return self.node(node_id)

    def update_node(self, node_id: str, **changes: Any) -> NodeRecord:
        """Change how the hub reaches a registered node (url, transport, timeout_s) or what it
        knows of it (name, country, public_key: a node that made a new key). A node moved to
        the relay transport forgets its URL. Runs already under way keep what they started with."""
        with self._write() as c:
            row = c.execute(select(nodes).where(nodes.c.id == node_id).with_for_update()).mappings().first()
            if row is None:
                raise HubStoreError(f"unknown node {node_id!r}")
            merged = {k: row[k] for k in _NODE_FIELDS} | changes
            if changes.get("transport") == "relay" and "url" not in changes:
                merged["url"] = None
            c.execute(update(nodes).where(nodes.c.id == node_id).values(**_node_values(**merged)))
        return self.node(node_id)

    def remove_node(self, node_id: str, *, held: Sequence[Column] = ()) -> int:
        """Unregister a node: the hub stops asking it, its open relay requests end (status
        "removed", so the runs waiting on them stop waiting), and the rows of ``held`` (node-id
        columns of other tables, such as its harvested catalogue) go in the same transaction.
        Past runs keep what it answered. How many open requests ended."""
        with self._write() as c:
            if not c.execute(delete(nodes).where(nodes.c.id == node_id)).rowcount:
                raise HubStoreError(f"unknown node {node_id!r}")
            open_ = (relay_requests.c.node_id == node_id) & relay_requests.c.status.in_(("queued", "claimed"))
            t = now()
            c.execute(update(relay_requests).where(open_, relay_requests.c.expires_at < t).values(status="expired"))
            ended = c.execute(update(relay_requests).where(open_).values(status="removed")).rowcount
            for column in held:
                c.execute(delete(column.table).where(column == node_id))
        return ended

    def nodes(self) -> list[NodeRecord]:
        with self.engine.connect() as c:
            rows = c.execute(select(nodes).order_by(nodes.c.id)).mappings().all()
        return [_node(r) for r in rows]

    def node(self, node_id: str) -> NodeRecord:
        with self.engine.connect() as c:
            row = c.execute(select(nodes).where(nodes.c.id == node_id)).mappings().first()
        if row is None:
            raise HubStoreError(f"unknown node {node_id!r}")
        return _node(row)

    def seen(self, node_id: str, audit: object = None) -> None:
        """Record that a node answered or polled, and the head of its audit log it signed
        (``{"seq", "hash"}``) if it gave one. Health is "last seen", not a log of every answer,
        so this process writes each at most once a second per node: a head kept a moment late
        is still an anchor. The newest head is kept (answers may arrive out of order, in
        several hub processes), so a log cut short no longer holds the entry anchored."""
        t = time.monotonic()
        head = _head(audit)
        seen_due = t - self._seen.get(node_id, -SEEN_EVERY_S) >= SEEN_EVERY_S
        head_due = head is not None and t - self._anchored.get(node_id, -SEEN_EVERY_S) >= SEEN_EVERY_S
        if not (seen_due or head_due):
            return
        self._seen[node_id] = t
        at = now()
        with self._write() as c:
            c.execute(update(nodes).where(nodes.c.id == node_id).values(last_seen=at))
            if head_due:
                self._anchored[node_id] = t
                c.execute(update(nodes).where(nodes.c.id == node_id,
                                              nodes.c.audit_seq.is_(None) | (nodes.c.audit_seq < head[0]))
                          .values(audit_seq=head[0], audit_hash=head[1], audit_at=at))

    def failed(self, node_id: str, error: str) -> None:
        with self._write() as c:
            c.execute(update(nodes).where(nodes.c.id == node_id).values(last_error=error, last_error_at=now()))

    # users --------------------------------------------------------------------------------

    def add_user(self, name: str, level: str = "registered") -> str:
        user_id = uuid.uuid4().hex[:16]
        with self._write() as c:
            c.execute(users.insert().values(id=user_id, name=name, level=level, disabled=False, created_at=now()))
        return user_id

    def user(self, user_id: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(select(users).where(users.c.id == user_id)).mappings().first()
        return dict(row) if row else None

    # relay queue ---------------------------------------------------------------------------

    def enqueue(self, node_id: str, envelope: dict, ttl_s: float) -> str:
        request_id = str(uuid.uuid4())
        t = now()
        with self._write() as c:
            c.execute(relay_requests.insert().values(
                id=request_id, node_id=node_id, status="queued", envelope=json.dumps(envelope),
                created_at=t, expires_at=t + timedelta(seconds=ttl_s)))
        return request_id

    def claim(self, node_id: str, lease_s: float, limit: int = 16) -> list[tuple[str, dict]]:
        """Hand queued (or abandoned) requests of a node to one poll, each to exactly one.

        On PostgreSQL, FOR UPDATE SKIP LOCKED lets concurrent polls from several hub
        processes take disjoint rows; on SQLite the whole write is serialised anyway.
        """
        t = now()
        waiting = (relay_requests.c.status == "queued") | (
            (relay_requests.c.status == "claimed") & (relay_requests.c.lease_until < t))
        with self.engine.connect() as c:  # most polls find nothing: then they write nothing either
            if c.execute(select(relay_requests.c.id).where(relay_requests.c.node_id == node_id, waiting,
                                                           relay_requests.c.expires_at >= t).limit(1)).first() is None:
                return []
        with self._write() as c:
            c.execute(update(relay_requests)
                      .where(relay_requests.c.status.in_(("queued", "claimed")), relay_requests.c.expires_at < t)
                      .values(status="expired"))
            rows = c.execute(
                select(relay_requests.c.id, relay_requests.c.envelope)
                .where(relay_requests.c.node_id == node_id, waiting)
                .order_by(relay_requests.c.created_at).limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            c.execute(update(relay_requests).where(relay_requests.c.id.in_(ids))
                      .values(status="claimed", lease_until=t + timedelta(seconds=lease_s)))
        return [(r.id, json.loads(r.envelope)) for r in rows]

    def answer(self, request_id: str, node_id: str, envelope: dict) -> bool:
        """Store a node's answer; False if no such open request of that node exists. A request
        past its expiry is closed here and then, not left for the next poll's sweep: its
        exchange has given up on it, so a late answer would be stored for no one."""
        t = now()
        mine = (relay_requests.c.id == request_id) & (relay_requests.c.node_id == node_id) & \
            relay_requests.c.status.in_(("queued", "claimed"))
        with self._write() as c:
            c.execute(update(relay_requests).where(mine, relay_requests.c.expires_at < t).values(status="expired"))
            done = c.execute(update(relay_requests).where(mine)
                             .values(status="answered", answer=json.dumps(envelope), answered_at=t))
        return done.rowcount == 1

    def answer_of(self, request_id: str) -> tuple[str, dict | None]:
        with self.engine.connect() as c:
            row = c.execute(select(relay_requests.c.status, relay_requests.c.answer)
                            .where(relay_requests.c.id == request_id)).first()
        if row is None:
            return "missing", None
        return row.status, json.loads(row.answer) if row.answer else None

    def drop(self, request_id: str) -> None:
        """A request nobody waits for any more (its run gave up on the node)."""
        with self._write() as c:
            c.execute(update(relay_requests).where(relay_requests.c.id == request_id,
                                                   relay_requests.c.status.in_(("queued", "claimed")))
                      .values(status="expired"))

    # runs ----------------------------------------------------------------------------------

    def create_run(self, requester: str, analysis: str, version: str, request: dict, token: str,
                   owner: str, lease_s: float) -> str:
        run_id = str(uuid.uuid4())
        t = now()
        with self._write() as c:
            c.execute(runs.insert().values(
                id=run_id, requester=requester, analysis=analysis, version=version, request=request,
                token=token, status="running", round=0, state={}, per_node={}, owner=owner,
                lease_until=t + timedelta(seconds=lease_s), created_at=t, updated_at=t))
        return run_id

    def run(self, run_id: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        return dict(row) if row else None

    def save_run(self, run_id: str, owner: str, lease_s: float, **values: Any) -> bool:
        """Save a run's progress and renew its lease; False if another process took it over."""
        t = now()
        with self._write() as c:
            done = c.execute(update(runs).where(runs.c.id == run_id, runs.c.owner == owner)
                             .values(updated_at=t, lease_until=t + timedelta(seconds=lease_s), **values))
        return done.rowcount == 1

    def adopt_runs(self, owner: str, lease_s: float) -> list[str]:
        """Take over running runs whose owner stopped renewing their lease (a hub restart)."""
        t = now()
        with self._write() as c:
            rows = c.execute(select(runs.c.id).where(runs.c.status == "running", runs.c.lease_until < t)
                             .with_for_update(skip_locked=True)).all()
            ids = [r.id for r in rows]
            if ids:
                c.execute(update(runs).where(runs.c.id.in_(ids))
                          .values(owner=owner, lease_until=t + timedelta(seconds=lease_s)))
        return ids


def _head(audit: object) -> tuple[int, str] | None:
    """An audit head as a node's answer carries it, or None if it carries none (or nonsense)."""
    if not isinstance(audit, dict):
        return None
    seq, hash_ = audit.get("seq"), audit.get("hash")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return None
    if not (isinstance(hash_, str) and len(hash_) == 64):
        return None
    return seq, hash_


def _node(row) -> NodeRecord:
    values = dict(row)
    for k in ("added_at", "last_seen", "last_error_at", "audit_at"):
        values[k] = _aware(values[k])
    return NodeRecord(**values)
