import duckdb
import pytest

from oncofed.errors import StoreError
from oncofed.model.schema import TABLES
from oncofed.store import migrations
from oncofed.store.migrations import Migration, migrate
from oncofed.store.store import Store


def columns(con, table):
    return con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position", [table]).fetchall()


def test_migrated_store_matches_the_model(tmp_path):
    with Store.open(tmp_path / "s.duckdb") as store:
        assert migrations.current_version(store.con) == migrations.LATEST
        for name, table in TABLES.items():
            expected = [("dataset_id", "VARCHAR", "NO")] + [
                (c.name, c.type, "NO" if c.required else "YES") for c in table.columns]
            assert columns(store.con, name) == expected, name


def test_forward_migration_applies_only_what_is_missing(tmp_path):
    bundled = migrations.bundled()
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    assert migrate(con, bundled[:1]) == [1]
    later = bundled + [Migration(len(bundled) + 1, "add_note", "ALTER TABLE datasets ADD COLUMN note VARCHAR;")]
    assert migrate(con, later) == list(range(2, len(later) + 1))
    assert migrate(con, later) == []
    assert ("note", "VARCHAR", "YES") in columns(con, "datasets")


def test_a_failing_migration_changes_nothing(tmp_path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    migrate(con)
    broken = migrations.bundled() + [Migration(migrations.LATEST + 1, "broken",
                                               "ALTER TABLE datasets ADD COLUMN x INT; SELECT * FROM nowhere;")]
    with pytest.raises(duckdb.Error):
        migrate(con, broken)
    assert migrations.current_version(con) == migrations.LATEST
    assert "x" not in [c[0] for c in columns(con, "datasets")]


def test_a_store_newer_than_this_software_is_refused(tmp_path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    migrate(con)
    con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    with pytest.raises(StoreError, match="newer than this oncofed knows"):
        migrate(con)


def test_a_store_of_schema_4_gets_the_imaging_summaries_of_what_it_holds(tmp_path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    migrate(con, migrations.bundled()[:4])
    con.execute("INSERT INTO imaging_studies (dataset_id, id, individual_id, age) VALUES ('d', 's1', 'p', 70.0)")
    con.execute("INSERT INTO imaging_series (dataset_id, id, study_id, individual_id, modality) "
                "VALUES ('d', 'r1', 's1', 'p', 'CT'), ('d', 'r2', 's1', 'p', 'CT')")
    migrate(con)
    assert con.execute("SELECT * FROM imaging_summaries").fetchall() == [("d", "p", ["CT"], 70.0, 1, 2)]


def test_schema_6_keeps_every_row_and_stores_pseudonyms_uncompressed(tmp_path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    migrate(con, migrations.bundled()[:5])
    con.execute("INSERT INTO individuals (dataset_id, id, sex) "
                "SELECT 'd', md5(i::VARCHAR)[:24], 'NCIT:C16576' FROM range(5000) t(i)")
    con.execute("INSERT INTO measurements (dataset_id, individual_id, code, value) "
                "SELECT dataset_id, id, 'LOINC:21893-3', 1.5 FROM individuals")
    before = con.execute("SELECT * FROM individuals ORDER BY id").fetchall()
    migrate(con)
    con.execute("CHECKPOINT")
    assert con.execute("SELECT * FROM individuals ORDER BY id").fetchall() == before
    assert con.execute("SELECT count(*) FROM measurements").fetchall() == [(5000,)]
    stored = dict(con.execute("SELECT DISTINCT column_name, compression FROM pragma_storage_info('measurements') "
                              "WHERE column_name IN ('individual_id', 'code') AND segment_type = 'VARCHAR'").fetchall())
    assert stored["individual_id"] == "Uncompressed" and stored["code"] != "Uncompressed"
