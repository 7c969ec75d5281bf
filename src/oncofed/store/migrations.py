"""Forward-only schema migrations of the node store.

Each migration is a numbered SQL file in ``migrations/``; a store records which it has had,
and opening a store read-write applies the missing ones in order, in one transaction each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import duckdb

from oncofed.errors import StoreError
from oncofed.store.connection import one

_NAME = re.compile(r"(\d{4})_(\w+)\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def bundled() -> list[Migration]:
    found = []
    for f in resources.files("oncofed.store").joinpath("migrations").iterdir():
        m = _NAME.fullmatch(f.name)
        if m:
            found.append(Migration(int(m[1]), m[2], f.read_text()))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise AssertionError("store migrations must be numbered 1, 2, 3 … without gaps")
    return found


LATEST = len(bundled())


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'")[0]
    if not exists:
        return 0
    return one(con, "SELECT coalesce(max(version), 0) FROM schema_migrations")[0]


def migrate(con: duckdb.DuckDBPyConnection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations this store lacks; returns the versions applied."""
    migrations = bundled() if migrations is None else migrations
    have = current_version(con)
    if have > len(migrations):
        raise StoreError(
            f"this store has schema version {have}, newer than this oncofed knows ({len(migrations)}); "
            "upgrade oncofed"
        )
    applied = []
    for m in migrations[have:]:
        con.execute("BEGIN")
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            )
            con.execute(m.sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [m.version, m.name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(m.version)
    return applied
