"""Region-level exposures (deprivation, air quality …): a table of region → indicator value,
linked to individuals by their region code (``individuals.region`` / ``region_coding``).

The table (CSV or TSV, plain or gzipped) has one row per region and indicator:

    <region column>  code                   value  label            unit   year  source
    E08000001        ONCOFED:townsend_score 2.31   Townsend score   score  2011  ONS census

``--region-column`` names the region column and ``--coding`` the coding of its codes (NUTS,
LAD, FIPS or a local name, matched against ``individuals.region_coding``). ``code`` (a CURIE)
and one of ``value`` (a number) or ``value_code`` (a CURIE) are required; ``label``, ``unit``,
``year`` and ``source`` are optional. Rows carry no individual: no pseudonym is made.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from oncofed.errors import IngestError
from oncofed.ingest.batch import Batch, SourceFile, arrow_schema
from oncofed.ingest.clinical import SUFFIXES, read_table
from oncofed.ingest.reader import IngestContext, expand
from oncofed.model import curie, vocabulary
from oncofed.model.schema import TABLES
from oncofed.store.connection import one

OPTIONAL = ("label", "value", "value_code", "unit", "year", "source")
_LINE = "__line"


def read(paths: list[Path], ctx: IngestContext) -> Batch:
    if not ctx.region_column:
        raise IngestError("an exposures table needs the column of its region codes", field="--region-column",
                          expected="the name of a column of the table")
    if not ctx.region_coding:
        raise IngestError("an exposures table needs the coding of its region codes", field="--coding",
                          expected="NUTS, LAD, FIPS or the local coding the individuals' regions use")
    files = expand(paths, SUFFIXES)
    ctx.progress(total=sum(f.stat().st_size for f in files), description="reading")
    parts = [_read_file(f, ctx) for f in files]
    table = pa.concat_tables(parts)
    codes = set(table.column("code").to_pylist()) | {c for c in table.column("value_code").to_pylist() if c}
    terms = {c: label for c in codes if (label := vocabulary.label(c))}
    for code, label in zip(table.column("code").to_pylist(), table.column("label").to_pylist()):
        if label:
            terms.setdefault(code, label)
    return Batch({"exposures": table}, terms, [SourceFile.of(f) for f in files])


def _read_file(path: Path, ctx: IngestContext) -> pa.Table:
    where = str(path)
    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    raw = read_table(path, delimiter, ["", "NA"], ctx.progress)
    if raw.num_rows == 0:
        raise IngestError("the file has a header but no rows", file=where, line=2)
    columns = set(raw.column_names)
    for needed in (ctx.region_column, "code"):
        if needed not in columns:
            raise IngestError(f"no column {needed!r}", file=where, line=1,
                              expected="one of " + ", ".join(sorted(columns - {_LINE, "__row"})))
    if "value" not in columns and "value_code" not in columns:
        raise IngestError("no value column", file=where, line=1, expected="a column 'value' or 'value_code'")
    con = duckdb.connect()
    try:
        con.register("raw", raw)
        col = {c: (f'"{c}"' if c in columns else "NULL") for c in OPTIONAL}
        region = '"' + ctx.region_column.replace('"', '""') + '"'
        checks = [
            (f"{region} IS NULL", ctx.region_column, "a region code"),
            ("code IS NULL OR NOT regexp_full_match(code, $pattern)", "code", curie.EXAMPLE),
            (f"{col['value']} IS NOT NULL AND TRY_CAST({col['value']} AS DOUBLE) IS NULL", "value", "a number"),
            (f"{col['value_code']} IS NOT NULL AND NOT regexp_full_match({col['value_code']}, $pattern)",
             "value_code", curie.EXAMPLE),
            (f"{col['value']} IS NULL AND {col['value_code']} IS NULL", "value", "a value or a value_code"),
            (f"{col['year']} IS NOT NULL AND coalesce(TRY_CAST({col['year']} AS DOUBLE) "
             f"<> round(TRY_CAST({col['year']} AS DOUBLE)), TRUE)", "year", "a whole year"),
        ]
        for condition, field, expected in checks:
            bad = con.execute(f"SELECT {_LINE}, CAST({field if field in columns else 'NULL'} AS VARCHAR) "
                              f"FROM raw WHERE {condition} ORDER BY {_LINE} LIMIT 1",
                              {"pattern": curie.PATTERN} if "$pattern" in condition else None).fetchall()
            if bad:
                raise IngestError(f"bad {field}", file=where, line=bad[0][0], field=field, expected=expected,
                                  got=bad[0][1])
        table = con.sql(
            f"""SELECT NULL::VARCHAR AS individual_id, {region} AS region, $coding AS region_coding, code,
                       {col['label']} AS label, TRY_CAST({col['value']} AS DOUBLE) AS value,
                       {col['value_code']} AS value_code, {col['unit']} AS unit,
                       TRY_CAST({col['year']} AS INTEGER) AS year, {col['source']} AS source
                FROM raw ORDER BY {_LINE}""", params={"coding": ctx.region_coding}).to_arrow_table()
        dup = one(con, f"SELECT count(*) - count(DISTINCT ({region}, code, {col['year']})) FROM raw")[0]
        if dup:
            raise IngestError("a region has the same indicator and year more than once", file=where,
                              field=ctx.region_column, expected="one row per region, code and year")
    finally:
        con.close()
    return table.cast(arrow_schema(TABLES["exposures"]))
