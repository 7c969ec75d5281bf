import pyarrow as pa
import pytest

from conftest import sha256
from oncofed.errors import IngestError, StoreError, UnknownDatasetError
from oncofed.ingest.batch import Batch, RowBuilder, SourceFile, arrow_schema
from oncofed.model.schema import CLINICAL, TABLES
from oncofed.store.content_hash import content_hash

SRC = [SourceFile("test.csv", "0" * 64, 10)]


def batch(individuals=(), diseases=(), covers=()):
    b = RowBuilder()
    for i in individuals:
        b.add("individuals", i, file="t")
    for d in diseases:
        b.add("diseases", d, file="t")
    return b.build(SRC, covers)


ANN = {"id": "ann", "sex": "NCIT:C16576"}
BOB = {"id": "bob", "sex": "NCIT:C20197"}


def test_a_dataset_id_must_be_a_slug(node):
    with node.store() as store, pytest.raises(StoreError, match="bad dataset id"):
        store.add_dataset("Bad Id!", "x")


def test_an_unknown_dataset_names_the_known_ones(node):
    with node.store() as store, pytest.raises(UnknownDatasetError, match="known datasets: ds"):
        store.dataset("nope")


def test_each_new_content_is_a_new_version_and_same_content_is_none(node):
    with node.store() as store:
        first = store.write("ds", batch([ANN]), format="csv")
        assert (first.version, first.created) == (1, True)
        again = store.write("ds", batch([ANN]), format="csv")
        assert (again.version, again.created, again.content_hash) == (1, False, first.content_hash)
        second = store.write("ds", batch([BOB]), format="csv")
        assert (second.version, second.created) == (2, True)
        assert second.content_hash != first.content_hash
        assert [v.version for v in store.versions("ds")] == [1, 2]
        assert store.versions("ds")[0].sources == [{"name": "test.csv", "sha256": "0" * 64, "bytes": 10}]


def test_the_content_hash_ignores_row_order(node, tmp_path):
    with node.store() as store:
        a = store.write("ds", batch([ANN, BOB]), format="csv").content_hash
        store.add_dataset("other", "x")
        b = store.write("other", batch([BOB, ANN]), format="csv").content_hash
    assert a == b


def test_an_ingest_replaces_the_clinical_record_of_the_individuals_it_mentions(node):
    with node.store() as store:
        store.write("ds", batch([ANN, BOB], [{"individual_id": "ann", "code": "NCIT:C4872"},
                                             {"individual_id": "bob", "code": "NCIT:C4878"}]), format="csv")
        store.write("ds", batch([{**ANN, "year_of_birth": 1950}],
                                [{"individual_id": "ann", "code": "NCIT:C4910"}]), format="csv")
        rows = store.con.execute("SELECT individual_id, code FROM diseases ORDER BY 1").fetchall()
        assert rows == [("ann", "NCIT:C4910"), ("bob", "NCIT:C4878")]
        assert store.con.execute("SELECT year_of_birth FROM individuals WHERE id = 'ann'").fetchone() == (1950,)
        assert store.counts("ds")["individuals"] == 2


def test_a_record_source_removes_what_it_no_longer_states(node):
    with node.store() as store:
        store.write("ds", batch([ANN], [{"individual_id": "ann", "code": "NCIT:C4872"}]), format="phenopacket")
        store.write("ds", batch([ANN], covers=CLINICAL), format="phenopacket")
        assert store.counts("ds")["diseases"] == 0


def test_replace_makes_the_input_the_whole_dataset(node):
    with node.store() as store:
        store.write("ds", batch([ANN, BOB]), format="csv")
        store.write("ds", batch([BOB]), format="csv", replace=True)
        assert store.con.execute("SELECT id FROM individuals").fetchall() == [("bob",)]
        assert store.versions("ds")[-1].mode == "replace"


def test_a_reference_to_a_missing_individual_leaves_the_store_as_it_was(node):
    with node.store() as store:
        store.write("ds", batch([ANN]), format="csv")
    before = sha256(node.store_path)
    with node.store() as store, pytest.raises(IngestError, match="diseases.individual_id") as refused:
        store.write("ds", batch([BOB], [{"individual_id": "carl", "code": "NCIT:C4872"},
                                        {"individual_id": "bob", "code": "NCIT:C4872"},
                                        {"individual_id": "dora", "code": "NCIT:C4878"}]), format="csv")
    assert "2 diseases row(s) refer to an individual" in str(refused.value)
    assert refused.value.got in ("carl", "dora")
    assert sha256(node.store_path) == before


def test_a_key_twice_in_one_input_is_refused(node):
    with node.store() as store, pytest.raises(IngestError, match="more than once"):
        store.write("ds", batch([ANN, ANN]), format="csv")


def test_an_input_without_records_is_refused(node):
    with node.store() as store, pytest.raises(IngestError, match="no records"):
        store.write("ds", batch(covers=CLINICAL), format="csv")


def test_datasets_are_isolated(node):
    with node.store() as store:
        store.add_dataset("other", "x")
        store.write("ds", batch([ANN]), format="csv")
        store.write("other", batch([BOB]), format="csv")
        store.write("ds", batch([ANN], covers=CLINICAL), format="csv", replace=True)
        assert store.counts("other")["individuals"] == 1


def imaging(studies=(), series=()):
    b = RowBuilder()
    for i in (ANN, BOB):
        b.add("individuals", i, file="t")
    for s in studies:
        b.add("imaging_studies", s, file="t")
    for s in series:
        b.add("imaging_series", s, file="t")
    return b.build(SRC, ())


def summaries(store):
    return store.con.execute(
        "SELECT individual_id, modalities, first_age, studies, series FROM imaging_summaries ORDER BY 1").fetchall()


def test_imaging_summaries_follow_every_write_of_the_imaging_tables(node):
    with node.store() as store:
        store.write("ds", imaging(
            [{"id": "s1", "individual_id": "ann", "age": 61.5}, {"id": "s2", "individual_id": "ann", "age": 60.2},
             {"id": "s3", "individual_id": "bob"}],
            [{"id": "r1", "study_id": "s1", "individual_id": "ann", "modality": "MR"},
             {"id": "r2", "study_id": "s2", "individual_id": "ann", "modality": "CT"},
             {"id": "r3", "study_id": "s2", "individual_id": "ann", "modality": "CT"},
             {"id": "r4", "study_id": "s3", "individual_id": "bob"}]), format="dicom")
        assert summaries(store) == [("ann", ["CT", "MR"], 60.2, 2, 3), ("bob", [], None, 1, 1)]
        # a series merged in again under its key, now of another modality
        store.write("ds", imaging([], [{"id": "r4", "study_id": "s3", "individual_id": "bob", "modality": "PT"}]),
                    format="dicom")
        assert summaries(store)[1] == ("bob", ["PT"], None, 1, 1)
        store.write("ds", imaging([{"id": "s9", "individual_id": "bob", "age": 40.0}]), format="dicom", replace=True)
        assert summaries(store) == [("bob", [], 40.0, 1, 0)]
        assert store.con.execute("SELECT * FROM imaging_summaries EXCEPT SELECT * FROM imaging_summary_source "
                                 "UNION ALL SELECT * FROM imaging_summary_source EXCEPT SELECT * FROM "
                                 "imaging_summaries").fetchall() == []


def test_the_hash_a_write_foresees_is_the_hash_of_what_it_leaves(node):
    """``Store.write`` computes the new content hash before writing; every kind of merge
    must leave content whose hash, computed afresh from the tables, is that one."""
    writes = [
        (batch([ANN, BOB], [{"individual_id": "ann", "code": "NCIT:C4872"},
                            {"individual_id": "bob", "code": "NCIT:C4878", "age_at_diagnosis": 61.5}]), False),
        (batch([{**ANN, "year_of_birth": 1950}], [{"individual_id": "ann", "code": "NCIT:C4910"}]), False),
        (batch([BOB], covers=CLINICAL), False),
        (imaging([{"id": "s1", "individual_id": "ann", "age": 50.0}],
                 [{"id": "r1", "study_id": "s1", "individual_id": "ann", "modality": "CT"}]), False),
        (exposures([{"region": "DE1", "region_coding": "NUTS", "code": "ENVO:01000797", "value": 9.5, "year": 2020},
                    {"individual_id": "ann", "code": "ENVO:01000797", "value": 12.0, "year": 2021}]), False),
        (imaging([{"id": "s1", "individual_id": "bob", "age": 41.0}]), False),
        (batch([ANN], [{"individual_id": "ann", "code": "NCIT:C4872"}]), True),
    ]
    with node.store() as store:
        for data, replace in writes:
            result = store.write("ds", data, format="test", replace=replace)
            assert result.created
            assert result.content_hash == content_hash(store.con, "ds")
            assert result.counts == store.counts("ds")


def exposures(rows):
    b = RowBuilder()
    for i in (ANN, BOB):
        b.add("individuals", i, file="t")
    for r in rows:
        b.add("exposures", r, file="t")
    return b.build(SRC, ())


def rows(table: str, **columns: list) -> pa.Table:
    """A batch table with these columns, the others empty."""
    n = len(next(iter(columns.values())))
    schema = arrow_schema(TABLES[table])
    return pa.table({f.name: pa.array(columns.get(f.name, [None] * n), f.type) for f in schema})


def many_individuals(n: int, start: int = 0) -> pa.Table:
    """Storage test rows, not patients: identifiers only, beyond one DuckDB row group."""
    return rows("individuals", id=[f"x{i:07d}" for i in range(start, start + n)])


def test_a_large_write_refused_or_unchanged_leaves_the_file_byte_for_byte(node):
    """DuckDB writes an insert of more than a row group (122,880 rows) to the file before
    its commit; a refusal found after that would leave those blocks behind."""
    with node.store() as store:
        store.write("ds", Batch({"individuals": many_individuals(200_000)}, sources=SRC), format="test")
    before = sha256(node.store_path)
    with node.store() as store:
        again = store.write("ds", Batch({"individuals": many_individuals(200_000)}, sources=SRC), format="test")
        assert not again.created
    assert sha256(node.store_path) == before
    refused = Batch({"individuals": many_individuals(200_000, start=200_000),
                     "diseases": rows("diseases", individual_id=["nobody"], code=["NCIT:C4872"])}, sources=SRC)
    with node.store() as store, pytest.raises(IngestError, match="diseases.individual_id"):
        store.write("ds", refused, format="test")
    assert sha256(node.store_path) == before


def test_a_required_value_missing_is_refused_before_writing(node):
    with node.store() as store, pytest.raises(IngestError, match="diseases.code") as refused:
        store.write("ds", Batch({"individuals": rows("individuals", id=["ann"]),
                                 "diseases": rows("diseases", individual_id=["ann"], code=[None])},
                                sources=SRC), format="test")
    assert "1 diseases row(s) lack a code" in str(refused.value)


def test_variants_are_stored_in_chromosome_and_position_order(node):
    """A Beacon range query skips the blocks whose positions cannot match (DuckDB's per-block
    min/max), which works only if the rows lie in order; the write inserts in parallel."""
    import numpy as np

    n = 300_000  # storage test rows, not variants of anyone: more than two row groups, shuffled
    rng = np.random.default_rng(7)
    position, chromosome = rng.permutation(n) + 1, rng.choice(["1", "2", "X"], n)
    ids = [f"GRCh38:{c}:{p}:A:C" for c, p in zip(chromosome, position)]
    variants = rows("variants", id=ids, assembly=["GRCh38"] * n, chromosome=list(chromosome),
                    position=list(position), ref=["A"] * n, alt=["C"] * n)
    with node.store() as store:
        store.write("ds", Batch({"variants": variants}, sources=SRC), format="vcf")
        out_of_order = store.con.execute(
            "SELECT count(*) FROM (SELECT chromosome, position, lag(chromosome) OVER w AS c0, lag(position) OVER w AS p0 "
            "FROM variants WINDOW w AS (ORDER BY rowid)) WHERE c0 IS NOT NULL AND (chromosome, position) < (c0, p0)"
        ).fetchall()[0][0]
    assert out_of_order == 0
