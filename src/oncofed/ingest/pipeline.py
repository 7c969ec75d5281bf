"""Ingest as a steward runs it: read the files into a batch, then write it as one version.

Everything that can be wrong with the input is found while reading, before the store is
opened for writing; what only the store can judge (references to stored records) is checked
inside the write transaction, which then rolls back. Files a reader derives (de-identified
DICOM copies) are written to a staging folder inside the node folder and moved into place only
after the store has committed, so a refused ingest leaves no file behind either.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from importlib import import_module
from pathlib import Path

import pyarrow as pa

from oncofed.errors import IngestError
from oncofed.ingest.reader import IngestContext, Reader
from oncofed.model.schema import TABLES
from oncofed.node.home import NodeHome
from oncofed.store.store import Store, WriteResult

# format → "module:function"; imported on use, since some readers pull in large libraries
FORMATS = {
    "csv": "oncofed.ingest.clinical:read_csv",
    "tsv": "oncofed.ingest.clinical:read_tsv",
    "phenopacket": "oncofed.ingest.phenopacket:read",
    "fhir": "oncofed.ingest.fhir:read",
    "vcf": "oncofed.ingest.vcf:read",
    "dicom": "oncofed.ingest.dicom:read",
    "idc": "oncofed.ingest.idc:read",
    "exposures": "oncofed.ingest.exposures:read",
}
ON_ERROR = ("refuse", "skip")
Opener = Callable[[], AbstractContextManager[Store]]


def _stored(opened: Opener, dataset_id: str, table: str) -> pa.Table:
    cols = ", ".join(TABLES[table].column_names)
    with opened() as store:
        return store.con.sql(f"SELECT {cols} FROM {table} WHERE dataset_id = $1", params=[dataset_id]).to_arrow_table()


def reader(format: str) -> Reader:
    if format not in FORMATS:
        raise IngestError(f"unknown format {format!r}", field="--format", expected=", ".join(FORMATS))
    module, name = FORMATS[format].split(":")
    return getattr(import_module(module), name)


def _publish(staging: Path, node: Path) -> None:
    """Move every staged folder that holds files over the same folder under the node: a keyed
    record (an imaging series) replaces its stored files as its row replaces the stored row."""
    for folder in sorted({f.parent for f in staging.rglob("*") if f.is_file()}):
        target = node / folder.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            os.replace(target, old)
            os.replace(folder, target)
            shutil.rmtree(old)
        else:
            os.replace(folder, target)


def ingest(home: NodeHome, dataset_id: str, format: str, files: list[Path], *,
           mapping: Path | None = None, where: str | None = None, samples: Path | None = None,
           assembly: str | None = None, patients: Path | None = None, on_error: str = "refuse",
           region_column: str | None = None, region_coding: str | None = None, replace: bool = False,
           dry_run: bool = False, progress=None, notice=None, store: Opener | None = None) -> WriteResult:
    """``store`` opens the node store for a moment (by default from its file); a serving node,
    which holds the store, passes its own (``node.handler.Node.store``). ``dry_run`` reads
    and judges everything, and says what the ingest would do, changing nothing."""
    opened = store or home.store
    read = reader(format)
    if on_error not in ON_ERROR:
        raise IngestError(f"unknown --on-error {on_error!r}", field="--on-error", expected=" or ".join(ON_ERROR))
    with opened() as store:
        store.dataset(dataset_id)  # an unknown dataset fails before any reading
    ctx = IngestContext(dataset_id, home.pseudonyms, country=home.config.country, mapping=mapping, where=where,
                        samples=samples, assembly=assembly, patients=patients, on_error=on_error,
                        region_column=region_column, region_coding=region_coding)
    if not replace:  # a replacing ingest keeps nothing, so there is nothing to add to
        ctx.stored = functools.partial(_stored, opened, dataset_id)
    if progress is not None:
        ctx.progress = progress
    if notice is not None:
        ctx.notice = notice
    ctx.staging = Path(tempfile.mkdtemp(prefix=".ingest-", dir=home.path))
    try:
        batch = read(files, ctx)
        with opened() as store:
            result = store.write(dataset_id, batch, format=format, replace=replace, dry_run=dry_run)
        if not dry_run:
            _publish(ctx.staging, home.path)
        return result
    finally:
        shutil.rmtree(ctx.staging, ignore_errors=True)
