"""Ingest as a steward runs it: read the files into a batch, then write it as one version.

Everything that can be wrong with the input is found while reading, before the store is
opened for writing; what only the store can judge (references to stored records) is checked
inside the write transaction, which then rolls back.
"""

from __future__ import annotations

import functools
from importlib import import_module
from pathlib import Path

import pyarrow as pa

from oncofed.errors import IngestError
from oncofed.ingest.reader import IngestContext, Reader
from oncofed.model.schema import TABLES
from oncofed.node.home import NodeHome
from oncofed.store.store import WriteResult

# format → "module:function"; imported on use, since some readers pull in large libraries
FORMATS = {
    "csv": "oncofed.ingest.clinical:read_csv",
    "tsv": "oncofed.ingest.clinical:read_tsv",
    "phenopacket": "oncofed.ingest.phenopacket:read",
    "fhir": "oncofed.ingest.fhir:read",
    "vcf": "oncofed.ingest.vcf:read",
}


def _stored(home: NodeHome, dataset_id: str, table: str) -> pa.Table:
    cols = ", ".join(TABLES[table].column_names)
    with home.store(read_only=True) as store:
        return store.con.sql(f"SELECT {cols} FROM {table} WHERE dataset_id = $1", params=[dataset_id]).to_arrow_table()


def reader(format: str) -> Reader:
    if format not in FORMATS:
        raise IngestError(f"unknown format {format!r}", field="--format", expected=", ".join(FORMATS))
    module, name = FORMATS[format].split(":")
    return getattr(import_module(module), name)


def ingest(home: NodeHome, dataset_id: str, format: str, files: list[Path], *,
           mapping: Path | None = None, where: str | None = None, samples: Path | None = None,
           assembly: str | None = None, replace: bool = False, progress=None) -> WriteResult:
    read = reader(format)
    with home.store() as store:
        store.dataset(dataset_id)  # an unknown dataset fails before any reading
    ctx = IngestContext(dataset_id, home.pseudonyms, country=home.config.country, mapping=mapping, where=where,
                        samples=samples, assembly=assembly)
    if not replace:  # a replacing ingest keeps nothing, so there is nothing to add to
        ctx.stored = functools.partial(_stored, home, dataset_id)
    if progress is not None:
        ctx.progress = progress
    batch = read(files, ctx)
    with home.store() as store:
        return store.write(dataset_id, batch, format=format, replace=replace)
