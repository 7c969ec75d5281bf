"""The one interface every source-format reader implements, and what it is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from oncofed.errors import IngestError
from oncofed.ingest.batch import Batch, arrow_schema
from oncofed.model.schema import TABLES
from oncofed.privacy.pseudonym import Pseudonymiser


def _no_progress(advance: float = 0, total: float | None = None, description: str | None = None) -> None:
    pass


def _no_notice(message: str) -> None:
    pass


def _nothing_stored(table: str) -> pa.Table:
    return arrow_schema(TABLES[table]).empty_table()


@dataclass
class IngestContext:
    dataset_id: str
    pseudonyms: Pseudonymiser
    country: str | None = None  # the node's country, for sources that do not say
    mapping: Path | None = None  # for tabular sources
    where: str | None = None  # row filter (SQL over the source columns) for tabular sources
    samples: Path | None = None  # sample sheet linking VCF samples to individuals and biosamples
    assembly: str | None = None  # for VCFs whose header does not name it
    # stored(table): the dataset's rows in a keyed table, for readers that add to records another
    # source made (a VCF's sample may be a biosample a clinical ingest described)
    stored: Callable[[str], pa.Table] = _nothing_stored
    # progress(advance=..., total=..., description=...): readers report work done
    progress: Callable[..., None] = _no_progress
    patients: Path | None = None  # DICOM: TSV of PatientID → source patient id, so images join clinical records
    on_error: str = "refuse"  # readers of many files (DICOM): "refuse" the input at a bad file, or "skip" it
    # notice(message): what the steward must hear about an ingest that succeeds (a skipped file)
    notice: Callable[[str], None] = _no_notice
    region_column: str | None = None  # exposures: the column holding the region code
    region_coding: str | None = None  # exposures: the coding of those codes (NUTS, LAD, FIPS …)
    # A folder for files a reader derives (de-identified DICOM copies), laid out as they go under the
    # node folder; the pipeline publishes it there only once the store has committed the batch.
    staging: Path | None = None

    def pseudonym(self, identifier: str, namespace: str | None = None) -> str:
        return self.pseudonyms.one(namespace or self.dataset_id, identifier)

    def skip(self, error: IngestError) -> None:
        """A bad file among many: refuse the whole input, or, if the steward chose to, note and go on."""
        if self.on_error != "skip":
            raise error
        self.notice(f"skipped {error}")


class Reader(Protocol):
    def __call__(self, files: list[Path], ctx: IngestContext) -> Batch:
        """Read every file into one batch, or raise IngestError naming file, record and field."""


def expand(paths: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files given directly, plus the files with one of these suffixes inside given folders."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(suffixes))
            if not found:
                raise IngestError(f"no {'/'.join(suffixes)} files in this folder", file=str(p))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise IngestError("no such file or folder", file=str(p))
    if not files:
        raise IngestError("no input files given")
    return files
