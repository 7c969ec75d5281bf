"""The NCI Imaging Data Commons index (the ``idc-index-data`` package: about a million series of
some 86,000 patients in 179 collections) as an imaging catalogue node.

Columnar: DuckDB reads the index's parquet file and its collections table directly and builds
each record table in one query; only the distinct patients pass through Python, to be
pseudonymised. One ingest fills one dataset: the whole index, or the collections a
``--where`` selects (``--where "collection_id = 'nlst'"``), as the steward chooses.

- patients → individuals, pseudonymised per collection (``<collection_id>/<PatientID>``);
  sex from PatientSex (M, F; anything else is left empty);
- studies and series → imaging records; the age at a study is its series' PatientAge ("000Y",
  which the index uses for a blanked age, counts as unknown); descriptions, manufacturer and
  image counts as IDC has them (the collections were de-identified before publication, and
  their UIDs are public); the series' file reference is its public IDC storage URL;
- a collection's cancer type → a disease of each of its patients, where the collection names
  one type and it has a verified NCIt code (``CANCER_TYPES``); collections of several types, or
  of patients with and without cancer, add no disease.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from oncofed.errors import IngestError
from oncofed.ingest.batch import Batch, SourceFile, arrow_schema
from oncofed.ingest.reader import IngestContext
from oncofed.model import vocabulary
from oncofed.model.schema import TABLES

MALE, FEMALE = "NCIT:C20197", "NCIT:C16576"
# IDC's collection cancer_types (lower case) → the NCIt term of the same meaning, verified in
# model/vocab/SOURCES.md. Types without an equivalent verified term are left unmapped.
CANCER_TYPES = {
    "lung cancer": "NCIT:C7377",
    "non-small cell lung cancer": "NCIT:C2926",
    "lung adenocarcinoma": "NCIT:C3512",
    "lung squamous cell carcinoma": "NCIT:C3493",
    "acute myeloid leukemia": "NCIT:C3171",
    "glioblastoma": "NCIT:C3058",
    "glioblastoma multiforme": "NCIT:C3058",
    "colon adenocarcinoma": "NCIT:C4349",
    "breast invasive carcinoma": "NCIT:C9245",
}
INDEX, COLLECTIONS = "idc_index.parquet", "collections_index.parquet"


def default_index() -> Path:
    """The index inside the installed ``idc-index-data`` package (the optional extra ``imaging``)."""
    try:
        import idc_index_data
    except ImportError:
        raise IngestError("no IDC index given, and the idc-index-data package is not installed",
                          expected="an idc_index.parquet file, or pip install 'oncofed[imaging]'") from None
    return Path(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)


def read(files: list[Path], ctx: IngestContext) -> Batch:
    if len(files) > 1:
        raise IngestError("the IDC format reads one index file", expected="idc_index.parquet or nothing")
    index = files[0] if files else default_index()
    collections = index.with_name(COLLECTIONS)
    for f in (index, collections):
        if not f.is_file():
            raise IngestError("no such file", file=str(f), expected=f"{INDEX} with {COLLECTIONS} beside it")
    size = index.stat().st_size
    ctx.progress(total=size, description="reading the IDC index")
    con = duckdb.connect()
    try:
        try:
            con.execute(f"CREATE TEMP VIEW raw AS SELECT * FROM read_parquet({_literal(index)})")
            con.execute(f"CREATE TEMP VIEW collections AS SELECT * FROM read_parquet({_literal(collections)})")
        except duckdb.Error as e:
            raise IngestError(f"not a readable IDC index: {str(e).splitlines()[0]}", file=str(index)) from None
        try:
            con.execute(f"CREATE TEMP VIEW idc AS SELECT * FROM raw WHERE {ctx.where or 'TRUE'}")
        except duckdb.Error as e:
            raise IngestError(f"the condition does not work on the index: {str(e).splitlines()[0]}",
                              field="--where") from None
        con.execute("CREATE TEMP TABLE series AS SELECT collection_id || '/' || PatientID AS patient, * "
                    "FROM idc WHERE PatientID IS NOT NULL AND SeriesInstanceUID IS NOT NULL")
        ctx.progress(advance=size * 0.2, description="pseudonymising")
        patients = [p for (p,) in con.execute("SELECT DISTINCT patient FROM series ORDER BY 1").fetchall()]
        if not patients:
            raise IngestError("no series in the index" + (" match --where" if ctx.where else ""), file=str(index))
        con.register("_ids", pa.table({"patient": patients,
                                       "pid": ctx.pseudonyms.many(ctx.dataset_id, patients)}))
        con.execute("CREATE TEMP TABLE s AS SELECT i.pid, s.* EXCLUDE (patient, PatientID) "
                    "FROM series s JOIN _ids i USING (patient)")
        con.execute("DROP TABLE series")
        con.unregister("_ids")
        ctx.progress(advance=size * 0.2, description="building records")
        tables = _tables(con)
        ctx.progress(advance=size * 0.6, description="writing")
    finally:
        con.close()
    codes = {c for c in tables["diseases"].column("code").to_pylist()} | {MALE, FEMALE}
    return Batch(tables, {c: label for c in codes if (label := vocabulary.label(c))}, [SourceFile.of(index)])


def _literal(path: Path) -> str:
    """A path as a SQL string literal (a view's definition cannot take parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, pa.Table]:
    age = ("CASE WHEN regexp_full_match(PatientAge, '[0-9]{3}[DWMY]') AND PatientAge <> '000Y' THEN "
           "CAST(substr(PatientAge, 1, 3) AS DOUBLE) * CASE right(PatientAge, 1) "
           "WHEN 'Y' THEN 1 WHEN 'M' THEN 1 / 12 WHEN 'W' THEN 7 / 365.25 ELSE 1 / 365.25 END END")
    mapping = pa.table({"type": list(CANCER_TYPES), "code": list(CANCER_TYPES.values())})
    con.register("_types", mapping)
    queries = {
        "individuals": f"""
            SELECT pid AS id,
                   CASE min(PatientSex) FILTER (WHERE PatientSex IN ('M', 'F'))
                        WHEN 'M' THEN '{MALE}' WHEN 'F' THEN '{FEMALE}' END AS sex
            FROM s GROUP BY pid ORDER BY pid""",
        "diseases": """
            SELECT DISTINCT s.pid AS individual_id, t.code, NULL AS label
            FROM s JOIN collections c USING (collection_id)
                   JOIN _types t ON lower(trim(c.cancer_types)) = t.type
            ORDER BY 1""",
        "imaging_studies": f"""
            SELECT StudyInstanceUID AS id, min(pid) AS individual_id,
                   string_agg(DISTINCT Modality, '\\' ORDER BY Modality) AS modality,
                   min(BodyPartExamined) AS body_part, max({age}) AS age,
                   min(StudyDescription) AS description, count(*) AS series_count
            FROM s GROUP BY StudyInstanceUID ORDER BY 1""",
        "imaging_series": """
            SELECT SeriesInstanceUID AS id, StudyInstanceUID AS study_id, pid AS individual_id,
                   Modality AS modality, BodyPartExamined AS body_part, SeriesDescription AS description,
                   instanceCount AS image_count, Manufacturer AS manufacturer, NULL AS slice_thickness,
                   series_aws_url AS file_ref
            FROM s ORDER BY 1""",
    }
    out = {}
    for name, sql in queries.items():
        data = con.sql(sql).to_arrow_table()
        schema = arrow_schema(TABLES[name])
        cols = [data.column(f.name).cast(f.type) if f.name in data.column_names else pa.nulls(data.num_rows, f.type)
                for f in schema]
        out[name] = pa.Table.from_arrays(cols, schema=schema)
    con.unregister("_types")
    return out
