"""The content hash of a dataset: equal content, equal hash, whatever the order of rows or
the history of ingests that produced it. It names a dataset version in every answer.

Per table, the rows' 64-bit hashes are summed under two seeds (an order-independent multiset
hash), which DuckDB computes at hundreds of millions of rows a second; sorting per-row digests
instead cost twenty times more at a million patients. The row hash is DuckDB's own, so a
DuckDB release that changed it would give equal content a new hash (and one new version).
"""

from __future__ import annotations

import hashlib

import duckdb

from oncofed.model.schema import TABLES
from oncofed.store.connection import one


def table_digests(con: duckdb.DuckDBPyConnection, dataset_id: str) -> dict[str, tuple[int, int, int]]:
    """Per table: (rows, sum of row hashes, sum of seeded row hashes)."""
    out = {}
    for name, table in sorted(TABLES.items()):
        cols = ", ".join(table.column_names)
        out[name] = one(
            con,
            f"SELECT count(*), coalesce(sum(hash({cols})), 0), coalesce(sum(hash({cols}, 'oncofed')), 0) "
            f"FROM {name} WHERE dataset_id = ?",
            [dataset_id],
        )
    return out


def content_hash(con: duckdb.DuckDBPyConnection, dataset_id: str) -> str:
    h = hashlib.sha256()
    for name, (n, a, b) in table_digests(con, dataset_id).items():
        h.update(f"{name}\t{n}\t{a}\t{b}\n".encode())
    return "sha256:" + h.hexdigest()
