"""Small helpers over DuckDB connections."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | None = None) -> tuple:
    """The single row of a query, read to the end: DuckDB refuses further work on a
    connection while a result is only partly fetched."""
    rows = con.execute(sql, params or []).fetchall()
    if len(rows) != 1:
        raise AssertionError(f"expected one row, got {len(rows)}: {sql}")
    return rows[0]
