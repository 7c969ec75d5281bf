"""The node store: one DuckDB file holding datasets, their versions and the record tables.

Writes are all-or-nothing: a batch is merged inside one transaction, checked for integrity,
and either committed as a new dataset version or rolled back, leaving the file as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

import oncofed
from oncofed import ids
from oncofed.errors import IngestError, StoreError, UnknownDatasetError
from oncofed.ingest.batch import Batch
from oncofed.model.schema import TABLES, Table
from oncofed.store import migrations
from oncofed.store import content_hash
from oncofed.store.connection import one


# (table, column) → (referenced table, column): checked for every row a batch brings.
REFERENCES = {
    **{(t.name, "individual_id"): ("individuals", "id") for t in TABLES.values() if t.per_individual},
    ("measurements", "biosample_id"): ("biosamples", "id"),
    ("calls", "biosample_id"): ("biosamples", "id"),
    ("calls", "variant_id"): ("variants", "id"),
    ("imaging_series", "study_id"): ("imaging_studies", "id"),
}

# The record tables ``imaging_summaries`` is derived from (migration 0005).
SUMMARISED = {"imaging_studies", "imaging_series"}


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    title: str
    description: str | None
    duo: list[str]
    licence: str | None
    contact: str | None
    created_at: datetime
    version: int | None
    content_hash: str | None


@dataclass(frozen=True)
class VersionInfo:
    version: int
    content_hash: str
    created_at: datetime
    format: str
    mode: str
    sources: list[dict]
    counts: dict[str, int]
    oncofed_version: str


@dataclass(frozen=True)
class WriteResult:
    dataset_id: str
    version: int
    created: bool  # False: the content was already this version's; nothing was written
    content_hash: str
    counts: dict[str, int]
    # a dry run: nothing was written; version, created, hash and counts are what the write
    # would have given, and ``before`` the counts the dataset holds
    dry_run: bool = False
    before: dict[str, int] | None = None


class Store:
    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path):
        self.con, self.path = con, path

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False) -> Store:
        if read_only and not path.exists():
            raise StoreError(f"no node store at {path}")
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as e:
            hint = ("; another process holds it (a serving node hands the steward's commands to its door, so "
                    "this is another program or an ingest still running)") if "lock" in str(e).lower() else ""
            raise StoreError(f"cannot open the node store {path}: {e}{hint}") from None
        if read_only:
            if migrations.current_version(con) != migrations.LATEST:
                con.close()
                raise StoreError(f"{path} needs a schema migration: open it read-write once")
        else:
            migrations.migrate(con)
        return cls(con, path)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # datasets ---------------------------------------------------------------------------

    def add_dataset(self, dataset_id: str, title: str, *, description: str | None = None,
                    duo: list[str] | None = None, licence: str | None = None,
                    contact: str | None = None) -> DatasetInfo:
        if not ids.SLUG.fullmatch(dataset_id):
            raise StoreError(f"bad dataset id {dataset_id!r}: expected {ids.RULE}")
        if self._exists(dataset_id):
            raise StoreError(f"dataset {dataset_id!r} already exists")
        self.con.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, now())",
            [dataset_id, title, description, duo or [], licence, contact],
        )
        return self.dataset(dataset_id)

    def _exists(self, dataset_id: str) -> bool:
        return bool(one(self.con, "SELECT count(*) FROM datasets WHERE id = ?", [dataset_id])[0])

    def datasets(self) -> list[DatasetInfo]:
        rows = self.con.execute(
            """SELECT d.id, d.title, d.description, d.duo, d.licence, d.contact, d.created_at,
                      v.version, v.content_hash
               FROM datasets d LEFT JOIN (
                   SELECT dataset_id, version, content_hash FROM dataset_versions
                   QUALIFY row_number() OVER (PARTITION BY dataset_id ORDER BY version DESC) = 1
               ) v ON v.dataset_id = d.id
               ORDER BY d.id"""
        ).fetchall()
        return [DatasetInfo(*r) for r in rows]

    def dataset(self, dataset_id: str) -> DatasetInfo:
        for d in self.datasets():
            if d.id == dataset_id:
                return d
        raise UnknownDatasetError(dataset_id, [d.id for d in self.datasets()])

    def versions(self, dataset_id: str) -> list[VersionInfo]:
        self.dataset(dataset_id)
        rows = self.con.execute(
            "SELECT version, content_hash, created_at, format, mode, sources, counts, oncofed_version "
            "FROM dataset_versions WHERE dataset_id = ? ORDER BY version",
            [dataset_id],
        ).fetchall()
        return [VersionInfo(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]), r[7])
                for r in rows]

    def counts(self, dataset_id: str) -> dict[str, int]:
        return {
            name: one(self.con, f"SELECT count(*) FROM {name} WHERE dataset_id = ?", [dataset_id])[0]
            for name in TABLES
        }

    # writing ----------------------------------------------------------------------------

    def write(self, dataset_id: str, batch: Batch, *, format: str, replace: bool = False,
              dry_run: bool = False) -> WriteResult:
        """Merge a batch into a dataset as one new version (see ``model.schema.Table`` for how
        rows merge); ``replace`` makes the batch the dataset's whole content instead;
        ``dry_run`` judges it and says what the write would do, writing nothing.

        Everything is judged before anything is written: the checks, and the content the
        write will leave (its hash and counts). Content equal to the current version creates
        nothing, and a refused batch leaves the file byte for byte as it was. (DuckDB writes
        a large insert to the file before its commit, and a rollback leaves those blocks
        behind.)
        """
        current = self.dataset(dataset_id)
        if not any(t.num_rows for t in batch.tables.values()):
            raise IngestError("the input holds no records", file=", ".join(s.name for s in batch.sources) or None)
        con = self.con
        for name, data in batch.tables.items():
            con.register(f"_batch_{name}", data)
        merging = current.version is not None and not replace  # stored rows the batch may replace
        if merging:
            con.register("_mentioned", self._mentioned(batch))
        try:
            for name in batch.tables:
                self._check_rows(TABLES[name])
            self._check_references(dataset_id, batch, replace)
            digests = self._digests_after(dataset_id, batch, replace, merging)
            new_hash = content_hash.combine(digests)
            counts = {name: n for name, (n, _, _) in digests.items()}
            unchanged = current.content_hash == new_hash
            version = current.version if unchanged else (current.version or 0) + 1
            if dry_run:
                return WriteResult(dataset_id, version, not unchanged, new_hash, counts, True, self.counts(dataset_id))
            if unchanged:
                return WriteResult(dataset_id, version, False, new_hash, counts)
            # lets DuckDB insert on every core, writing straight to the file (an ORDER BY still holds)
            con.execute("SET preserve_insertion_order = false")
            con.execute("BEGIN")
            try:
                for name in TABLES if replace else batch.tables if merging else ():
                    where = "" if replace else f" AND {self._replaced(name)}"
                    con.execute(f"DELETE FROM {name} t WHERE dataset_id = ?{where}", [dataset_id])
                self._insert(dataset_id, batch)
                if replace or SUMMARISED & batch.tables.keys():
                    con.execute("DELETE FROM imaging_summaries WHERE dataset_id = ?", [dataset_id])
                    con.execute("INSERT INTO imaging_summaries SELECT * FROM imaging_summary_source "
                                "WHERE dataset_id = ?", [dataset_id])
                if batch.terms:
                    con.register("_terms", pa.table({"id": list(batch.terms), "label": list(batch.terms.values())}))
                    con.execute("INSERT INTO terms SELECT id, label FROM _terms ON CONFLICT DO NOTHING")
                    con.unregister("_terms")
                con.execute(
                    "INSERT INTO dataset_versions VALUES (?, ?, ?, now(), ?, ?, ?, ?, ?)",
                    [dataset_id, version, new_hash, format, "replace" if replace else "merge",
                     json.dumps([s.__dict__ for s in batch.sources]), json.dumps(counts), oncofed.__version__],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.execute("RESET preserve_insertion_order")
        finally:
            for name in batch.tables:
                con.unregister(f"_batch_{name}")
            if merging:
                con.unregister("_mentioned")
        return WriteResult(dataset_id, version, True, new_hash, counts)

    def _mentioned(self, batch: Batch) -> pa.Table:
        """The individuals a batch mentions, whose clinical records it replaces."""
        ids = " UNION ALL ".join(f"SELECT {'id' if name == 'individuals' else 'individual_id'} AS id FROM _batch_{name}"
                                 for name in batch.tables if name == "individuals" or TABLES[name].per_individual)
        if not ids:
            return pa.table({"id": pa.array([], pa.string())})
        return self.con.sql(f"SELECT DISTINCT id FROM ({ids}) WHERE id IS NOT NULL").to_arrow_table()

    @staticmethod
    def _replaced(name: str) -> str:
        """Which stored rows (``t``) of a table in the batch the batch replaces: those with a
        key it brings, or, without a key, those of the individuals it mentions."""
        spec = TABLES[name]
        if spec.key:
            match = " AND ".join(f"b.{k} IS NOT DISTINCT FROM t.{k}" for k in spec.key)
            return f"EXISTS (SELECT 1 FROM _batch_{name} b WHERE {match})"
        return "EXISTS (SELECT 1 FROM _mentioned b WHERE b.id = t.individual_id)"

    def _digests_after(self, dataset_id: str, batch: Batch, replace: bool,
                       merging: bool) -> dict[str, content_hash.Digest]:
        """Per table, the digest of what the write will leave: the stored rows it keeps plus
        the rows it brings, as the table's types."""
        out = {}
        for name, spec in TABLES.items():
            parts = []
            if not replace:
                kept = f"NOT {self._replaced(name)}" if merging and name in batch.tables else "true"
                parts.append(one(self.con, content_hash.digest_sql(spec, f"{name} t", f"dataset_id = ? AND {kept}"),
                                 [dataset_id]))
            if name in batch.tables:
                typed = ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in spec.columns)
                parts.append(one(self.con, content_hash.digest_sql(spec, f"(SELECT {typed} FROM _batch_{name})")))
            out[name] = tuple(sum(p[i] for p in parts) for i in range(3))
        return out

    def _insert(self, dataset_id: str, batch: Batch) -> None:
        for name in batch.tables:
            spec = TABLES[name]
            cols = ", ".join(spec.column_names)
            order = f" ORDER BY {', '.join(spec.order)}" if spec.order else ""
            self.con.execute(f"INSERT INTO {name} (dataset_id, {cols}) SELECT ?, {cols} FROM _batch_{name}{order}",
                             [dataset_id])

    def _check_rows(self, spec: Table) -> None:
        """A batch's rows of one table: each key once, every required value present."""
        relation = f"_batch_{spec.name}"
        key = f"count(*) - count(DISTINCT row({', '.join(spec.key)}))" if spec.key else "0"
        missing = ", ".join(f"count(*) FILTER (WHERE {c} IS NULL)" for c in spec.required)
        twice, *absent = one(self.con, f"SELECT {key}{', ' + missing if missing else ''} FROM {relation}")
        if twice:
            raise IngestError(f"the input holds the same {spec.name} record more than once",
                              field=f"{spec.name}.{', '.join(spec.key)}", expected="each key once")
        for column, n in zip(spec.required, absent):
            if n:
                raise IngestError(f"{n} {spec.name} row(s) lack a {column}", field=f"{spec.name}.{column}",
                                  expected="a value")

    def _check_references(self, dataset_id: str, batch: Batch, replace: bool) -> None:
        """Every reference a batch brings names a record the write will leave (one stored,
        unless replaced wholesale, or one the batch brings): per referenced table, the
        referring columns together against it in one anti-join (one hash table of, say, a
        million individuals instead of one per referring table)."""
        targets: dict[tuple[str, str], list[tuple[str, str]]] = {}  # in the order of REFERENCES
        for (table, column), target in REFERENCES.items():
            data = batch.tables.get(table)
            if data is not None and data.num_rows:
                targets.setdefault(target, []).append((table, column))
        for (target, target_col), refs in targets.items():
            referring = " UNION ALL ".join(
                f"SELECT {k} AS k, {column} AS v FROM _batch_{table} WHERE {column} IS NOT NULL"
                for k, (table, column) in enumerate(refs))
            held = [] if replace else [f"SELECT {target_col} AS v FROM {target} WHERE dataset_id = $1"]
            if target in batch.tables:
                held.append(f"SELECT {target_col} AS v FROM _batch_{target}")
            missing = self.con.execute(
                f"SELECT k, v, count(*) OVER (PARTITION BY k) FROM ({referring}) r "
                f"ANTI JOIN ({' UNION ALL '.join(held) or 'SELECT NULL::VARCHAR AS v'}) t USING (v) "
                "ORDER BY k LIMIT 1", [dataset_id] if not replace else []).fetchall()
            if missing:
                k, got, n = missing[0]
                table, column = refs[k]
                record = target[:-1]
                raise IngestError(
                    f"{n} {table} row(s) refer to {'an' if record[0] in 'aeiou' else 'a'} {record} "
                    "this dataset does not hold",
                    field=f"{table}.{column}", expected=f"an existing {record}", got=got,
                )
