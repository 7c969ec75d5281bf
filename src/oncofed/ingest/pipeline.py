"""Ingest as a steward runs it: read the files into a batch, then write it as one version.

Everything that can be wrong with the input is found while reading, before the store is
opened for writing; what only the store can judge (references to stored records) is checked
inside the write transaction, which then rolls back.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from oncofed.errors import IngestError
from oncofed.ingest.reader import IngestContext, Reader
from oncofed.node.home import NodeHome
from oncofed.store.store import WriteResult

# format → "module:function"; imported on use, since some readers pull in large libraries
FORMATS = {
    "csv": "oncofed.ingest.clinical:read_csv",
    "tsv": "oncofed.ingest.clinical:read_tsv",
    "phenopacket": "oncofed.ingest.phenopacket:read",
    "fhir": "oncofed.ingest.fhir:read",
}


def reader(format: str) -> Reader:
    if format not in FORMATS:
        raise IngestError(f"unknown format {format!r}", field="--format", expected=", ".join(FORMATS))
    module, name = FORMATS[format].split(":")
    return getattr(import_module(module), name)


def ingest(home: NodeHome, dataset_id: str, format: str, files: list[Path], *,
           mapping: Path | None = None, where: str | None = None, replace: bool = False,
           progress=None) -> WriteResult:
    read = reader(format)
    with home.store() as store:
        store.dataset(dataset_id)  # an unknown dataset fails before any reading
    ctx = IngestContext(dataset_id, home.pseudonyms, country=home.config.country, mapping=mapping, where=where)
    if progress is not None:
        ctx.progress = progress
    batch = read(files, ctx)
    with home.store() as store:
        return store.write(dataset_id, batch, format=format, replace=replace)
