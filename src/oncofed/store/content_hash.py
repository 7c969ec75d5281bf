"""The content hash of a dataset: equal content, equal hash, whatever the order of rows or
the history of ingests that produced it. It names a dataset version in every answer."""

from __future__ import annotations

import hashlib

import duckdb

from oncofed.model.schema import TABLES
from oncofed.store.connection import one

_SEP, _NULL = "chr(31)", "chr(0)"


def _row_text(columns: list[str]) -> str:
    parts = ", ".join(f"coalesce(CAST({c} AS VARCHAR), {_NULL})" for c in columns)
    return f"concat_ws({_SEP}, {parts})"


def table_digests(con: duckdb.DuckDBPyConnection, dataset_id: str) -> dict[str, tuple[int, str]]:
    """Per table: (rows, digest of the sorted row hashes)."""
    out = {}
    for name, table in sorted(TABLES.items()):
        n, digest = one(con, 
            f"SELECT count(*), coalesce(sha256(string_agg(h, '' ORDER BY h)), '') FROM "
            f"(SELECT md5({_row_text(table.column_names)}) AS h FROM {name} WHERE dataset_id = ?)",
            [dataset_id],
        )
        out[name] = (n, digest)
    return out


def content_hash(con: duckdb.DuckDBPyConnection, dataset_id: str) -> str:
    h = hashlib.sha256()
    for name, (n, digest) in table_digests(con, dataset_id).items():
        h.update(f"{name}\t{n}\t{digest}\n".encode())
    return "sha256:" + h.hexdigest()
