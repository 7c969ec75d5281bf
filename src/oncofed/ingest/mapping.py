"""The YAML mapping that tells the clinical-table reader how source columns become the model.

    source: {delimiter: ",", missing: ["", "NA"], where: "inst IS NOT NULL"}
    terms: {"NCIT:C4878": "Lung Carcinoma"}           # labels the vocabulary lacks
    individuals:
      id: {column: patient}                           # pseudonymised; or {row_number: true}
      sex: {column: sex, map: {"1": "NCIT:C20197", "2": "NCIT:C16576"}}
      followup_days: {column: time, unit: mo}         # converted to days
    diseases:
      - code: {value: "NCIT:C4878"}
        age_at_diagnosis: {column: age}
    treatments:
      - when: "hormon = '1'"                          # a row makes this entry only when true
        type: {value: "NCIT:C15445"}
    outcomes:
      - endpoint: {value: "NCIT:C125201"}
        days: {column: time}
        event: {column: status, map: {"1": true, "0": false}}

A field takes its value from a ``column``, a constant ``value`` or a DuckDB ``sql``
expression over the columns (all read as text); ``map`` turns source values into codes,
``unit`` converts durations to days and ages to years, ``default`` fills missing values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oncofed.errors import IngestError
from oncofed.model.schema import TABLES

# Unit → factor to days (durations) — ages use the same factors, divided by a year.
UNITS = {
    "d": 1.0, "day": 1.0, "days": 1.0,
    "wk": 7.0, "week": 7.0, "weeks": 7.0,
    "mo": 30.4375, "month": 30.4375, "months": 30.4375,
    "a": 365.25, "year": 365.25, "years": 365.25,
}
DURATIONS = {"followup_days", "days"}
AGES = {"age_at_diagnosis", "start_age", "end_age", "age", "onset_age", "collection_age"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Strict):
    column: str | None = None
    value: Any = None
    sql: str | None = None
    row_number: bool = False
    map: dict[str, Any] | None = None
    unit: str | None = None
    default: Any = None

    @model_validator(mode="before")
    @classmethod
    def _keys_as_text(cls, data: Any) -> Any:
        # YAML reads `1: NCIT:C20197` with an int key; source values are text.
        if isinstance(data, dict) and isinstance(data.get("map"), dict):
            data = {**data, "map": {_text(k): v for k, v in data["map"].items()}}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [k for k in ("column", "value", "sql") if getattr(self, k) is not None] + (
            ["row_number"] if self.row_number else [])
        if len(given) != 1:
            raise ValueError("give exactly one of column, value, sql, row_number")
        if self.unit is not None and self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r}; expected one of {', '.join(UNITS)}")
        return self


def _text(key: Any) -> str:
    if isinstance(key, bool):
        return str(key).lower()
    return str(key)


class Entry(_Strict):
    """One output row per source row (where ``when`` holds) for a list section."""

    model_config = ConfigDict(extra="allow")
    when: str | None = None

    def fields(self) -> dict[str, FieldSpec]:
        return {k: FieldSpec.model_validate(v) for k, v in (self.model_extra or {}).items()}


class Source(_Strict):
    delimiter: str | None = None
    missing: list[str] = Field(default_factory=lambda: ["", "NA", "NaN", "nan", "NULL"])
    where: str | None = None
    id_namespace: str | None = None


class Mapping(_Strict):
    source: Source = Field(default_factory=Source)
    terms: dict[str, str] = Field(default_factory=dict)
    individuals: dict[str, FieldSpec]
    diseases: list[Entry] = Field(default_factory=list)
    treatments: list[Entry] = Field(default_factory=list)
    measurements: list[Entry] = Field(default_factory=list)
    phenotypic_features: list[Entry] = Field(default_factory=list)
    outcomes: list[Entry] = Field(default_factory=list)
    biosamples: list[Entry] = Field(default_factory=list)
    exposures: list[Entry] = Field(default_factory=list)

    def sections(self) -> dict[str, list[dict[str, FieldSpec]]]:
        """Per record table, its entries' field specs (individuals is one entry)."""
        out = {"individuals": [self.individuals]}
        for name in TABLES:
            entries = getattr(self, name, None)
            if name != "individuals" and entries:
                out[name] = [e.fields() for e in entries]
        return out


def load(path: Path) -> Mapping:
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise IngestError(f"cannot read the mapping: {e.strerror}", file=where) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise IngestError(f"not valid YAML: {getattr(e, 'problem', e)}", file=where,
                          line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise IngestError("a mapping is a YAML dictionary with at least an 'individuals' section", file=where)
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as e:
        raise _error(e, where, ()) from None
    for table in TABLES:
        entries = getattr(mapping, table, None)
        if table == "individuals" or not entries:
            continue
        for i, entry in enumerate(entries):
            for name, raw in (entry.model_extra or {}).items():
                try:
                    FieldSpec.model_validate(raw)
                except ValidationError as e:
                    raise _error(e, where, (table, i, name)) from None
    for table, entries in mapping.sections().items():
        columns = set(TABLES[table].column_names)
        for i, fields in enumerate(entries):
            for name in fields:
                if name not in columns or name == "individual_id":
                    settable = sorted(columns - {"individual_id"})
                    raise IngestError(f"{table} has no field {name!r}", file=where,
                                      field=_path(table, i, name), expected=", ".join(settable))
    if "id" not in mapping.individuals:
        raise IngestError("individuals needs an id", file=where, field="individuals.id",
                          expected="{column: <patient id column>} or {row_number: true}")
    return mapping


def _error(e: ValidationError, where: str, prefix: tuple) -> IngestError:
    err = e.errors()[0]
    loc = [*prefix, *err["loc"]]
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    return IngestError(err["msg"].removeprefix("Value error, "), file=where, field=field or None)


def _path(table: str, index: int, name: str) -> str:
    return f"{table}.{name}" if table == "individuals" else f"{table}[{index}].{name}"
