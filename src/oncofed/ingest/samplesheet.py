"""The sample sheet: which individual and biosample each VCF sample is.

A TSV file with a header row. Columns:

    sample          the sample's name in the VCF header (required)
    individual_id   the individual it comes from (required)
    biosample_id    the biosample (default: the sample name)
    tumour_normal   tumour (or tumor) / normal
    origin          somatic / germline: the origin of every call of this sample
    file            the VCF file name the row applies to, when sample names repeat across files
                    (callers name them TUMOR and NORMAL in every file)

Identifiers are source identifiers: the reader pseudonymises them like every other reader.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from oncofed.errors import IngestError

REQUIRED = ("sample", "individual_id")
COLUMNS = REQUIRED + ("biosample_id", "tumour_normal", "origin", "file")
TUMOUR_NORMAL = {"tumour": "tumour", "tumor": "tumour", "normal": "normal"}
ORIGINS = ("somatic", "germline")


@dataclass(frozen=True)
class SheetRow:
    sample: str
    individual: str
    biosample: str
    tumour_normal: str | None
    origin: str | None
    file: str | None
    line: int


@dataclass(frozen=True)
class SampleSheet:
    path: str
    rows: tuple[SheetRow, ...]

    def row(self, file: str, sample: str) -> SheetRow | None:
        """The row for a sample of a file: one naming the file first, else one naming no file."""
        generic = None
        for r in self.rows:
            if r.sample == sample:
                if r.file == file:
                    return r
                if r.file is None:
                    generic = r
        return generic

    def check_covers(self, samples_by_file: dict[str, list[str]]) -> None:
        """Every row must name a sample of the input: a typo must not pass silently."""
        for r in self.rows:
            files = [r.file] if r.file else list(samples_by_file)
            if not any(r.sample in samples_by_file.get(f, ()) for f in files):
                where = f"the VCF file {r.file}" if r.file else "any of the VCF files"
                raise IngestError(f"sample {r.sample!r} is not in {where}", file=self.path, line=r.line,
                                  field="sample",
                                  expected="a sample named in the VCF header: " + ", ".join(
                                      sorted({s for f in files for s in samples_by_file.get(f, ())})[:12]),
                                  got=r.sample)


def load(path: Path) -> SampleSheet:
    where = str(path)
    if not path.is_file():
        raise IngestError("no such sample sheet", file=where, field="--samples")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(f"the sample sheet is not UTF-8 text: {e}", file=where) from None
    reader = csv.reader(text.splitlines(), delimiter="\t")
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise IngestError(f"the sample sheet lacks the column {missing[0]!r}", file=where, line=1,
                          field=missing[0], expected="a tab-separated header with columns " + ", ".join(COLUMNS),
                          got=header)
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise IngestError(f"unknown sample sheet column {unknown[0]!r}", file=where, line=1, field=unknown[0],
                          expected="one of " + ", ".join(COLUMNS))
    rows: list[SheetRow] = []
    seen: dict[tuple[str | None, str], int] = {}
    individual_of: dict[str, tuple[str, int]] = {}
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise IngestError("a row with the wrong number of fields", file=where, line=line,
                              expected=f"{len(header)} tab-separated fields", got=f"{len(values)} fields")
        cell = {h: (v.strip() or None) for h, v in zip(header, values)}
        for c in REQUIRED:
            if cell.get(c) is None:
                raise IngestError(f"{c} is empty", file=where, line=line, field=c, expected="a value")
        tn = cell.get("tumour_normal")
        if tn is not None and tn.lower() not in TUMOUR_NORMAL:
            raise IngestError("bad tumour_normal", file=where, line=line, field="tumour_normal",
                              expected="tumour, tumor or normal", got=tn)
        origin = cell.get("origin")
        if origin is not None and origin.lower() not in ORIGINS:
            raise IngestError("bad origin", file=where, line=line, field="origin",
                              expected=" or ".join(ORIGINS), got=origin)
        row = SheetRow(cell["sample"], cell["individual_id"], cell.get("biosample_id") or cell["sample"],
                       TUMOUR_NORMAL[tn.lower()] if tn else None, origin.lower() if origin else None,
                       cell.get("file"), line)
        key = (row.file, row.sample)
        if key in seen:
            raise IngestError(f"sample {row.sample!r} appears twice (lines {seen[key]} and {line})", file=where,
                              line=line, field="sample", expected="one row per sample (and file)")
        seen[key] = line
        owner = individual_of.setdefault(row.biosample, (row.individual, line))
        if owner[0] != row.individual:
            raise IngestError(f"biosample {row.biosample!r} is given two individuals (lines {owner[1]} and {line})",
                              file=where, line=line, field="individual_id", expected=repr(owner[0]),
                              got=row.individual)
        rows.append(row)
    if not rows:
        raise IngestError("the sample sheet has a header but no rows", file=where, line=2)
    return SampleSheet(where, tuple(rows))
