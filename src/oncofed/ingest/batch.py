"""What one ingest hands to the store: typed rows for the record tables, labels of the terms
it used, and the source files it read (for the dataset version's provenance)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from oncofed.errors import IngestError
from oncofed.model import curie
from oncofed.model.schema import TABLES, Table

_ARROW = {
    "VARCHAR": pa.string(), "DOUBLE": pa.float64(), "INTEGER": pa.int32(),
    "BIGINT": pa.int64(), "BOOLEAN": pa.bool_(),
}


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([pa.field(c.name, _ARROW[c.type], nullable=not c.required) for c in table.columns])


@dataclass(frozen=True)
class SourceFile:
    name: str
    sha256: str
    bytes: int

    @classmethod
    def of(cls, path: Path) -> SourceFile:
        h, size = hashlib.sha256(), 0
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
        return cls(path.name, h.hexdigest(), size)


@dataclass
class Batch:
    tables: dict[str, pa.Table]
    terms: dict[str, str] = field(default_factory=dict)
    sources: list[SourceFile] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: t.num_rows for name, t in self.tables.items()}


def _coerce(kind: str, value: object) -> object:
    """A value as the column's type, or ValueError."""
    if kind == "VARCHAR":
        if isinstance(value, (dict, list)):
            raise ValueError
        return str(value)
    if kind == "DOUBLE":
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if kind in ("INTEGER", "BIGINT"):
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    if kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise ValueError
        return value
    raise AssertionError(kind)


_EXPECTED = {
    "VARCHAR": "text", "DOUBLE": "a number", "INTEGER": "an integer",
    "BIGINT": "an integer", "BOOLEAN": "true or false",
}


class RowBuilder:
    """Collects rows from record-by-record readers (Phenopacket, FHIR), checking each row as
    it comes so that an error can name the file and record it came from."""

    def __init__(self) -> None:
        self._rows: dict[str, list[dict]] = defaultdict(list)
        self.terms: dict[str, str] = {}

    def add(self, table: str, row: dict, *, file: str, record: str | None = None,
            line: int | None = None) -> None:
        spec = TABLES[table]
        unknown = set(row) - set(spec.column_names)
        if unknown:
            raise AssertionError(f"{table} has no columns {sorted(unknown)}")
        clean = {}
        for col in spec.columns:
            value = row.get(col.name)
            if value is None or value == "":
                if col.required:
                    raise IngestError(f"{table} needs {col.name}", file=file, record=record,
                                      line=line, field=col.name, expected="a value")
                clean[col.name] = None
                continue
            try:
                value = _coerce(col.type, value)
            except (TypeError, ValueError):
                raise IngestError(f"bad {table}.{col.name}", file=file, record=record, line=line,
                                  field=col.name, expected=_EXPECTED[col.type], got=value) from None
            if col.coded and not curie.is_curie(value):
                raise IngestError(f"bad {table}.{col.name}", file=file, record=record, line=line,
                                  field=col.name, expected=curie.EXAMPLE, got=value)
            clean[col.name] = value
        self._rows[table].append(clean)

    def term(self, code: str | None, label: str | None) -> None:
        if code and label and curie.is_curie(code):
            self.terms.setdefault(code, label)

    def build(self, sources: list[SourceFile], covers: tuple[str, ...] = ()) -> Batch:
        """The batch. Tables in ``covers`` are included even when empty: a record-oriented
        source (one Phenopacket, one FHIR bundle per patient) states an individual's whole
        record, so a row it no longer holds must go from the store too."""
        names = [n for n in TABLES if self._rows.get(n) or n in covers]
        tables = {
            name: pa.Table.from_pylist(self._rows.get(name, []), schema=arrow_schema(TABLES[name]))
            for name in names
        }
        return Batch(tables, dict(self.terms), sources)
