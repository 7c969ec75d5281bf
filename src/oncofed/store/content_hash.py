"""The content hash of a dataset: equal content, equal hash, whatever the order of rows or
the history of ingests that produced it. It names a dataset version in every answer.

Per table, the rows' 64-bit hashes are summed under two seeds (an order-independent multiset
hash), which DuckDB computes at hundreds of millions of rows a second; sorting per-row digests
instead cost twenty times more at a million patients. The row hash is DuckDB's own, so a
DuckDB release that changed it would give equal content a new hash (and one new version).

Because the digest of a table is a sum, the digest of what a write will leave is the digest
of the stored rows it keeps plus that of the rows it brings: ``Store.write`` knows the new
hash before it writes anything.
"""

from __future__ import annotations

import hashlib

import duckdb

from oncofed.model.schema import TABLES, Table
from oncofed.store.connection import one

Digest = tuple[int, int, int]  # rows, sum of row hashes, sum of seeded row hashes


def digest_sql(table: Table, relation: str, where: str = "true") -> str:
    """SQL of the digest of ``relation``'s rows where ``where`` holds; ``relation`` has the
    table's columns, of the table's types (a row hash depends on the type)."""
    cols = ", ".join(table.column_names)
    return (f"SELECT count(*), coalesce(sum(hash({cols})), 0), coalesce(sum(hash({cols}, 'oncofed')), 0) "
            f"FROM {relation} WHERE {where}")


def table_digests(con: duckdb.DuckDBPyConnection, dataset_id: str) -> dict[str, Digest]:
    return {name: one(con, digest_sql(table, name, "dataset_id = ?"), [dataset_id])
            for name, table in TABLES.items()}


def combine(digests: dict[str, Digest]) -> str:
    h = hashlib.sha256()
    for name, (n, a, b) in sorted(digests.items()):
        h.update(f"{name}\t{n}\t{a}\t{b}\n".encode())
    return "sha256:" + h.hexdigest()


def content_hash(con: duckdb.DuckDBPyConnection, dataset_id: str) -> str:
    return combine(table_digests(con, dataset_id))
