"""Clinical tables (CSV or TSV, plain or gzipped) mapped onto the model by a YAML mapping.

Columnar throughout: pyarrow reads every column as text, DuckDB evaluates the mapping as one
projection per record table and checks it in one scan per section, and only the distinct
identifiers pass through Python (to be pseudonymised). A bad value is reported with its
line, the column it came from and what the mapping expected.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from oncofed.errors import IngestError
from oncofed.ingest import mapping as mp
from oncofed.ingest.batch import Batch, SourceFile, arrow_schema
from oncofed.ingest.reader import IngestContext, expand
from oncofed.model import curie, vocabulary
from oncofed.model.schema import TABLES, Column
from oncofed.store.connection import one

SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
_LINE, _ROW, _PID = "__line", "__row", "__pid"


def read_csv(files: list[Path], ctx: IngestContext) -> Batch:
    return _read(files, ctx, ",")


def read_tsv(files: list[Path], ctx: IngestContext) -> Batch:
    return _read(files, ctx, "\t")


def _read(paths: list[Path], ctx: IngestContext, delimiter: str) -> Batch:
    if ctx.mapping is None:
        raise IngestError("a clinical table needs a mapping", field="--mapping",
                          expected="a YAML mapping file (see data/*/mapping.yaml)")
    mapping = mp.load(ctx.mapping)
    files = expand(paths, SUFFIXES)
    total = sum(f.stat().st_size for f in files)
    ctx.progress(total=total, description="reading")
    parts = [_map_file(f, mapping, ctx, mapping.source.delimiter or delimiter) for f in files]
    tables = {
        name: pa.concat_tables([p[name] for p in parts if name in p])
        for name in TABLES if any(name in p for p in parts)
    }
    terms = {code: label for code in _codes(tables) if (label := mapping.terms.get(code) or vocabulary.label(code))}
    return Batch(tables, terms, [SourceFile.of(f) for f in files])


def _codes(tables: dict[str, pa.Table]) -> set[str]:
    codes: set[str] = set()
    for name, table in tables.items():
        for col in TABLES[name].columns:
            if col.coded:
                codes.update(v for v in table.column(col.name).unique().to_pylist() if v)
    return codes


# reading ------------------------------------------------------------------------------------


class _Counting(io.RawIOBase):
    """A file that reports the bytes read from disk, so long reads show progress."""

    def __init__(self, raw: io.BufferedReader, progress):
        self._raw, self._progress = raw, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        self._progress(advance=n)
        return n


def read_table(path: Path, delimiter: str, missing: list[str], progress) -> pa.Table:
    """The file as a table of text columns plus its physical line numbers."""
    where = str(path)
    gz = path.name.lower().endswith(".gz")
    with open(path, "rb") as raw:
        stream = _Counting(raw, progress)
        source = gzip.GzipFile(fileobj=io.BufferedReader(stream)) if gz else io.BufferedReader(stream)
        try:
            header_line = source.readline().decode("utf-8-sig")
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
            raise IngestError(f"cannot read the header: {e}", file=where, line=1) from None
        header = next(csv.reader([header_line], delimiter=delimiter), [])
        if not header or not any(h.strip() for h in header):
            raise IngestError("the file is empty or has no header", file=where, line=1,
                              expected=f"a header row of column names separated by {delimiter!r}")
        names = [h.strip() for h in header]
        for i, n in enumerate(names):
            if not n:
                raise IngestError(f"column {i + 1} has no name", file=where, line=1)
            if names.index(n) != i:
                raise IngestError(f"column {n!r} appears twice", file=where, line=1)
        bad: list = []

        def on_invalid(row) -> str:
            bad.append(row)
            return "error"

        try:
            table = pacsv.read_csv(
                source,
                read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 24),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                                 ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, null_values=missing,
                    strings_can_be_null=True, quoted_strings_can_be_null=True),
            )
        except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as e:
            if bad:
                row = bad[-1]
                raise IngestError(
                    "a row with the wrong number of fields", file=where,
                    line=row.number + 1 if row.number is not None else None,
                    expected=f"{row.expected_columns} fields", got=f"{row.actual_columns} fields",
                ) from None
            if "Empty CSV file" in str(e):
                raise IngestError("the file has a header but no rows", file=where, line=2) from None
            if isinstance(e, (EOFError, zlib.error)) or "truncated" in str(e).lower():
                raise IngestError("the file is truncated or corrupt", file=where, got=str(e)) from None
            raise IngestError(f"not a readable {'TSV' if delimiter == chr(9) else 'CSV'} file: {e}",
                              file=where) from None
    # With empty lines kept, row i is on line i + 2 (the header is line 1); rows with no value
    # at all (blank lines among them) are then dropped.
    index = np.arange(table.num_rows)
    table = table.append_column(_LINE, pa.array(index + 2)).append_column(_ROW, pa.array(index + 1))
    empty = functools.reduce(pc.and_, (pc.is_null(table.column(n)) for n in names))
    return table.filter(pc.invert(empty))


# mapping ------------------------------------------------------------------------------------


@dataclass
class _Field:
    """One compiled field: its SQL and the checks a source row must pass."""

    name: str
    path: str  # where in the mapping, for errors
    source: str  # what the value came from, for errors: a column name or an expression
    raw: str  # SQL of the source value as text
    sql: str  # SQL of the final, typed value
    checks: list[tuple[str, str]]  # (SQL that is true for a bad row, what was expected)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _compile(col: Column, spec: mp.FieldSpec, path: str) -> _Field:
    if spec.column is not None:
        base, source = _quote(spec.column), f"column {spec.column!r}"
    elif spec.row_number:
        base, source = f"CAST({_ROW} AS VARCHAR)", "row number"
    elif spec.sql is not None:
        base, source = f"({spec.sql})", f"sql {spec.sql!r}"
    else:
        base, source = _literal(spec.value), "value"
    raw = f"CAST({base} AS VARCHAR)"
    checks: list[tuple[str, str]] = []
    expr = base
    if spec.map is not None:
        keys = ", ".join(_literal(k) for k in spec.map)
        whens = " ".join(f"WHEN {_literal(k)} THEN {_literal(v)}" for k, v in spec.map.items())
        expr = f"(CASE {raw} {whens} END)"
        shown = ", ".join(repr(k) for k in list(spec.map)[:12]) + (" …" if len(spec.map) > 12 else "")
        checks.append((f"{raw} IS NOT NULL AND {raw} NOT IN ({keys})", f"one of {shown} (the mapping's values)"))
    if spec.default is not None:
        expr = f"coalesce({expr}, {_literal(spec.default)})"
    if col.type == "VARCHAR":
        typed = f"CAST({expr} AS VARCHAR)"
        if col.coded:
            checks.append((f"{typed} IS NOT NULL AND NOT regexp_full_match({typed}, {_literal(curie.PATTERN)})",
                           curie.EXAMPLE))
    elif col.type == "BOOLEAN":
        typed = f"TRY_CAST({expr} AS BOOLEAN)"
        checks.append((f"{expr} IS NOT NULL AND {typed} IS NULL", "true or false"))
    else:
        number = f"TRY_CAST({expr} AS DOUBLE)"
        checks.append((f"{expr} IS NOT NULL AND ({number} IS NULL OR isnan({number}))", "a number"))
        if col.type in ("INTEGER", "BIGINT"):
            checks.append((f"{number} IS NOT NULL AND {number} <> round({number})", "a whole number"))
            typed = f"CAST({number} AS {col.type})"
        else:
            typed = number
            if spec.unit is not None:
                factor = mp.UNITS[spec.unit] / (365.25 if col.name in mp.AGES else 1.0)
                typed = f"({number} * {factor!r})"
        if col.name in mp.DURATIONS | mp.AGES:
            checks.append((f"{number} < 0", "a value of 0 or more"))
    if col.required:
        checks.append((f"{typed} IS NULL", "a value"))
    return _Field(col.name, path, source, raw, typed, checks)


def _compile_entry(table: str, index: int | None, fields: dict[str, mp.FieldSpec],
                   columns: set[str], mapping_file: str) -> list[_Field]:
    spec = TABLES[table]
    out = []
    for name, fs in fields.items():
        path = f"{table}.{name}" if index is None else f"{table}[{index}].{name}"
        if fs.column is not None and fs.column not in columns:
            raise IngestError(f"no column {fs.column!r} in the input", file=mapping_file, field=path,
                              expected="one of " + ", ".join(sorted(columns)))
        out.append(_compile(next(c for c in spec.columns if c.name == name), fs, path))
    # individual_id is the row's pseudonym, and individuals.id is checked by the mapping loader
    missing = [c for c in spec.required if c not in fields and c not in ("individual_id", "id")]
    if missing:
        where = table if index is None else f"{table}[{index}]"
        raise IngestError(f"{where} needs {', '.join(missing)}", file=mapping_file, field=f"{where}.{missing[0]}",
                          expected="a field spec such as {column: ...} or {value: ...}")
    return out


def _sql_error(e: duckdb.Error, mapping_file: str, path: str) -> IngestError:
    return IngestError(f"the SQL does not work on this input: {str(e).splitlines()[0]}",
                       file=mapping_file, field=path)


def _check(con: duckdb.DuckDBPyConnection, fields: list[_Field], when: str, file: str,
           mapping_file: str, when_path: str, relation: str = "rows") -> None:
    """One scan for every check of a section; the first bad row found is reported."""
    checks = [(f, sql, expected) for f in fields for sql, expected in f.checks]
    if not checks:
        return
    firsts = ", ".join(f"min(CASE WHEN {sql} THEN {_LINE} END)" for _, sql, _ in checks)
    try:
        found = one(con, f"SELECT {firsts} FROM {relation} WHERE {when}")
    except duckdb.Error as e:
        # Name the field whose SQL fails, trying each on its own.
        for f in fields:
            try:
                con.execute(f"SELECT {f.sql} FROM {relation} WHERE {when} LIMIT 0")
            except duckdb.Error as fe:
                raise _sql_error(fe, mapping_file, f.path) from None
        raise _sql_error(e, mapping_file, when_path) from None
    hits = [(line, c) for line, c in zip(found, checks) if line is not None]
    if not hits:
        return
    line, (f, _, expected) = min(hits, key=lambda h: h[0])
    got = one(con, f"SELECT {f.raw} FROM {relation} WHERE {_LINE} = ?", [line])[0]
    raise IngestError(f"cannot map {f.source} to {f.path}", file=file, line=line,
                      field=f.source.removeprefix("column ").strip("'") if f.source.startswith("column") else f.path,
                      expected=expected, got=got)


def _map_file(path: Path, mapping: mp.Mapping, ctx: IngestContext, delimiter: str) -> dict[str, pa.Table]:
    file, mapping_file = str(path), str(ctx.mapping)
    table = read_table(path, delimiter, mapping.source.missing, ctx.progress)
    if table.num_rows == 0:
        raise IngestError("the file has a header but no rows", file=file, line=2)
    columns = set(table.column_names) - {_LINE, _ROW}
    con = duckdb.connect()
    try:
        con.register("_raw", table)
        filters = [(mapping.source.where, "source.where"), (ctx.where, "--where")]
        where = " AND ".join(f"({w})" for w, _ in filters if w) or "TRUE"
        for w, label in filters:
            if w:
                try:
                    con.execute(f"SELECT count(*) FROM _raw WHERE {w}")
                except duckdb.Error as e:
                    raise _sql_error(e, mapping_file if label == "source.where" else "command line", label) from None
        con.execute(f"CREATE TEMP VIEW src AS SELECT * FROM _raw WHERE {where}")
        _pseudonymise(con, mapping, ctx, columns, file, mapping_file)
        out = {"individuals": _individuals(con, mapping, columns, file, mapping_file)}
        for name, entries in mapping.sections().items():
            if name == "individuals":
                continue
            parts = []
            for i, fields in enumerate(entries):
                when = getattr(mapping, name)[i].when or "TRUE"
                compiled = _compile_entry(name, i, fields, columns, mapping_file)
                _check(con, compiled, f"({when})", file, mapping_file, f"{name}[{i}].when")
                parts.append(_pseudonymise_refs(name, _project(con, name, compiled, f"({when})"), ctx))
            out[name] = pa.concat_tables(parts)
        return out
    finally:
        con.close()


def _pseudonymise(con, mapping: mp.Mapping, ctx: IngestContext, columns: set[str], file: str,
                  mapping_file: str) -> None:
    """Attach each row's pseudonym as __pid; raw identifiers stay in this in-memory table."""
    id_field = _compile_entry("individuals", None, {"id": mapping.individuals["id"]}, columns, mapping_file)[0]
    _check(con, [id_field], "TRUE", file, mapping_file, "individuals.id", relation="src")
    raws = con.execute(f"SELECT DISTINCT {id_field.sql} FROM src").fetchnumpy()
    raw_ids = next(iter(raws.values())).tolist()
    if not raw_ids:
        raise IngestError("no rows are left after the row filter", file=file)
    namespace = mapping.source.id_namespace or ctx.dataset_id
    con.register("_ids", pa.table({"__raw": raw_ids, _PID: ctx.pseudonyms.many(namespace, raw_ids)}))
    con.execute(f"CREATE TEMP TABLE rows AS SELECT s.* EXCLUDE (__raw), i.{_PID} FROM "
                f"(SELECT *, {id_field.sql} AS __raw FROM src) s JOIN _ids i USING (__raw)")
    con.unregister("_ids")


def _individuals(con, mapping: mp.Mapping, columns: set[str], file: str, mapping_file: str) -> pa.Table:
    fields = {k: v for k, v in mapping.individuals.items() if k != "id"}
    compiled = _compile_entry("individuals", None, fields, columns, mapping_file)
    _check(con, compiled, "TRUE", file, mapping_file, "individuals")
    n_rows, n_ids = one(con, f"SELECT count(*), count(DISTINCT {_PID}) FROM rows")
    if n_rows == n_ids:
        return _project(con, "individuals", compiled, "TRUE", id_sql=_PID)
    # Several rows per individual (a long table): their individual fields must agree.
    if compiled:
        conflict = " OR ".join(f"count(DISTINCT {f.sql}) > 1" for f in compiled)
        bad = con.execute(
            f"SELECT {_PID}, list({_LINE} ORDER BY {_LINE}) FROM rows GROUP BY {_PID} HAVING {conflict} LIMIT 1"
        ).fetchall()
        if bad:
            bad = bad[0]
            lines = bad[1]
            for f in compiled:
                values = con.execute(f"SELECT DISTINCT {f.raw} FROM rows WHERE {_PID} = ?", [bad[0]]).fetchall()
                if len({v for (v,) in values if v is not None}) > 1:
                    raise IngestError(
                        f"rows of one individual disagree on {f.path} (lines {', '.join(map(str, lines[:6]))})",
                        file=file, line=lines[0], field=f.source.removeprefix("column ").strip("'"),
                        expected="the same value on every row of an individual",
                        got=sorted(v for (v,) in values if v is not None))
    select = ", ".join([f"{_PID} AS id"] + [f"any_value({f.sql}) AS {f.name}" for f in compiled])
    return _cast(con.sql(f"SELECT {select} FROM rows GROUP BY {_PID} ORDER BY min({_LINE})").to_arrow_table(),
                 "individuals")


def _project(con, table: str, compiled: list[_Field], when: str, id_sql: str | None = None) -> pa.Table:
    key = f"{id_sql} AS id" if id_sql else f"{_PID} AS individual_id"
    select = ", ".join([key] + [f"{f.sql} AS {f.name}" for f in compiled])
    return _cast(con.sql(f"SELECT {select} FROM rows WHERE {when} ORDER BY {_LINE}").to_arrow_table(), table)


def _cast(data: pa.Table, table: str) -> pa.Table:
    """Fill the columns the mapping does not set and give every column the model's type."""
    schema = arrow_schema(TABLES[table])
    cols = [data.column(f.name).cast(f.type) if f.name in data.column_names else pa.nulls(data.num_rows, f.type)
            for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


def _pseudonymise_refs(table: str, data: pa.Table, ctx: IngestContext) -> pa.Table:
    """Biosample identifiers are source identifiers too: store only their pseudonyms."""
    namespace = f"{ctx.dataset_id}/biosample"
    for col in ("id", "biosample_id"):
        if col in data.column_names and (col == "biosample_id" or table == "biosamples") \
                and data.column(col).null_count < data.num_rows:
            values = data.column(col).to_pylist()
            present = sorted({v for v in values if v is not None})
            pseudonym = dict(zip(present, ctx.pseudonyms.many(namespace, present)))
            data = data.set_column(data.column_names.index(col), col,
                                   pa.array([pseudonym.get(v) for v in values], pa.string()))
    return data
