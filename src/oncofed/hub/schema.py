"""The hub database's schema, kept by Alembic migrations (``hub/migrations/versions``), which
the hub applies whenever it opens its store: a hub upgraded in place gets the new tables and
columns, and keeps its nodes, users, runs and requests.

Hub workers starting together on one database take turns (a PostgreSQL advisory lock, the
SQLite write lock), since two concurrent CREATE TABLEs of one name fail the second. A database
made before the migrations existed (by ``create_all``) holds exactly the first revision's tables
and is stamped with it.

A change to a hub table needs a new revision: upgrade an empty SQLite database, then run
``alembic.command.revision(config(connection), message=..., autogenerate=True, rev_id="0002")``
on it and review what it wrote; ``tests/hub/test_hub_schema.py`` fails until the revisions
make exactly the declared tables.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from oncofed.hub import access, catalogue, identity, store

METADATA = [store.metadata, access.metadata, identity.metadata, catalogue.metadata]
FIRST = "0001"
LOCK = 0x6F6E636F  # "onco": the advisory lock hub workers take to change the schema


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "oncofed.hub:migrations")
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision."""
    with engine.connect() as c:
        if c.dialect.name == "postgresql":
            c.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK})
        else:  # SQLite: its write lock, taken before anything looks at what exists
            c.exec_driver_sql("BEGIN IMMEDIATE")
        tables = set(inspect(c).get_table_names())
        if "nodes" in tables and "alembic_version" not in tables:
            command.stamp(config(c), FIRST)
        command.upgrade(config(c), "head")
        c.commit()
