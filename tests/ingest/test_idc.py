"""The NCI Imaging Data Commons index (idc-index-data, the optional extra ``imaging``) as an
imaging catalogue: a few collections ingested, checked against the index itself with DuckDB,
and the cohort question "CT series of lung cancer patients over 60" answered at the node."""

import os

import duckdb
import pytest

from conftest import sha256
from oncofed.analysis import run
from oncofed.errors import IngestError
from oncofed.ingest.pipeline import ingest

try:
    import idc_index_data
except ImportError:
    if os.environ.get("CI") == "true":
        raise  # CI installs the test extra, which brings it
    pytest.skip("idc-index-data is not installed (pip install 'oncofed[imaging]')", allow_module_level=True)

INDEX = idc_index_data.IDC_INDEX_PARQUET_FILEPATH
# IDC's cancer types: Lung Cancer, Lung Adenocarcinoma, Non-small Cell Lung Cancer
WHERE = "collection_id IN ('nsclc_radiomics', 'tcga_luad', '4d_lung')"
LUNG_CANCER = ["NCIT:C7377", "NCIT:C4878", "NCIT:C2926", "NCIT:C4917", "NCIT:C3512", "NCIT:C3493"]


def index(sql: str) -> list[tuple]:
    return duckdb.sql(sql.replace("IDX", f"read_parquet('{INDEX}')")).fetchall()


@pytest.fixture(scope="module")
def lung(tmp_path_factory):
    from oncofed.node import home

    node = home.init(tmp_path_factory.mktemp("idc") / "node", "idc", "US")
    with node.store() as store:
        store.add_dataset("ds", "IDC lung collections")
    ingest(node, "ds", "idc", [], where=WHERE)
    return node


def rows(node, sql, params=()):
    with node.store(read_only=True) as store:
        return store.con.execute(sql, list(params)).fetchall()


def test_series_studies_and_patients_match_the_index(lung):
    (series, studies, patients), = index(f"SELECT count(*), count(DISTINCT StudyInstanceUID), "
                                         f"count(DISTINCT collection_id || PatientID) FROM IDX WHERE {WHERE}")
    assert rows(lung, "SELECT count(*) FROM imaging_series") == [(series,)]
    assert rows(lung, "SELECT count(*) FROM imaging_studies") == [(studies,)]
    assert rows(lung, "SELECT count(*) FROM individuals") == [(patients,)]
    (ct,), = index(f"SELECT count(*) FROM IDX WHERE {WHERE} AND Modality = 'CT'")
    assert rows(lung, "SELECT count(*) FROM imaging_series WHERE modality = 'CT'") == [(ct,)]


def test_patients_are_pseudonymised_and_their_collection_is_a_disease(lung):
    for collection, code in (("nsclc_radiomics", "NCIT:C7377"), ("tcga_luad", "NCIT:C3512"), ("4d_lung", "NCIT:C2926")):
        (patient,), = index(f"SELECT min(PatientID) FROM IDX WHERE collection_id = '{collection}'")
        pid = lung.pseudonyms.one("ds", f"{collection}/{patient}")
        assert rows(lung, "SELECT code FROM diseases WHERE individual_id = ?", [pid]) == [(code,)]
        assert not rows(lung, "SELECT 1 FROM individuals WHERE id = ?", [patient])


def test_ct_series_of_lung_cancer_patients_over_60(lung):
    cohort = {"filters": [{"variable": "imaging:CT", "op": ">=", "value": 1},
                          {"variable": "diagnosis", "op": "in", "value": LUNG_CANCER},
                          {"variable": "imaging_age", "op": ">", "value": 60}]}
    with lung.store(read_only=True) as store:
        n = run.run("count", {}, cohort, {"node": store.con})["count"]
    (expected,), = index(f"""
        WITH s AS (SELECT collection_id, PatientID, StudyInstanceUID, Modality,
                          CASE WHEN regexp_full_match(PatientAge, '[0-9]{{3}}[DWMY]') AND PatientAge <> '000Y'
                               THEN CAST(left(PatientAge, 3) AS DOUBLE) * CASE right(PatientAge, 1) WHEN 'Y' THEN 1
                                    WHEN 'M' THEN 1 / 12 WHEN 'W' THEN 7 / 365.25 ELSE 1 / 365.25 END END AS age
                   FROM IDX WHERE {WHERE}),
             study AS (SELECT collection_id, PatientID, StudyInstanceUID, max(age) AS age FROM s GROUP BY ALL),
             patient AS (SELECT collection_id, PatientID, min(age) AS age FROM study GROUP BY ALL)
        SELECT count(*) FROM patient p WHERE p.age > 60 AND EXISTS (
            SELECT 1 FROM s WHERE s.collection_id = p.collection_id AND s.PatientID = p.PatientID
                              AND s.Modality = 'CT')""")
    assert n == expected > 0


def test_a_bad_where_or_index_is_refused_and_the_store_is_unchanged(lung, tmp_path):
    before = sha256(lung.store_path)
    with pytest.raises(IngestError) as e:
        ingest(lung, "ds", "idc", [], where="no_such_column = 1")
    assert e.value.field == "--where"
    bad = tmp_path / "idc_index.parquet"
    bad.write_text("not parquet")
    (tmp_path / "collections_index.parquet").write_text("")
    with pytest.raises(IngestError, match="not a readable IDC index"):
        ingest(lung, "ds", "idc", [bad])
    assert sha256(lung.store_path) == before
