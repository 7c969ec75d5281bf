"""What the store itself says about a dataset, for its catalogue entry: read from the data, never
typed by hand, and released under the node's guard policy like any other answer.

Privacy decisions (the catalogue is public):
- the number of individuals and of records pass ``guard_count`` (suppressed below the
  minimum cell, rounded as the policy says);
- a cancer type or a country is listed only when at least ``min_cell`` individuals have it;
- the typical age range is the ``min_cell``-th youngest to the ``min_cell``-th oldest age at
  diagnosis, in whole years, so that no bound is one individual's age; it is left out when
  fewer than ``2 × min_cell`` individuals have an age.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb

from oncofed.model.schema import TABLES
from oncofed.privacy.guard import guard_count
from oncofed.privacy.policy import GuardPolicy
from oncofed.store.store import Store, VersionInfo


@dataclass(frozen=True)
class DatasetFacts:
    individuals: int | None  # guarded; None when suppressed
    records: int | None  # all records of all tables, guarded
    min_age: int | None
    max_age: int | None
    coding_systems: tuple[str, ...]  # CURIE prefixes of the coded values stored
    data_types: tuple[str, ...]  # the record tables that hold rows
    cancer_types: tuple[str, ...]  # disease codes of at least min_cell individuals
    countries: tuple[str, ...]  # individuals' countries (ISO 3166 alpha-2), at least min_cell each
    versions: tuple[VersionInfo, ...]


def facts(store: Store, dataset_id: str, policy: GuardPolicy) -> DatasetFacts:
    con = store.con
    counts = store.counts(dataset_id)
    min_age, max_age = _typical_ages(con, dataset_id, policy.min_cell)
    return DatasetFacts(
        individuals=guard_count(counts["individuals"], policy),
        records=guard_count(sum(counts.values()), policy),
        min_age=min_age,
        max_age=max_age,
        coding_systems=_coding_systems(con, dataset_id),
        data_types=tuple(name for name, n in counts.items() if n),
        cancer_types=_frequent(con, "diseases", "code", "individual_id", dataset_id, policy.min_cell),
        countries=_frequent(con, "individuals", "country", "id", dataset_id, policy.min_cell),
        versions=tuple(store.versions(dataset_id)),
    )


def _coding_systems(con: duckdb.DuckDBPyConnection, dataset_id: str) -> tuple[str, ...]:
    parts = [f"SELECT split_part({c.name}, ':', 1) AS p FROM {t.name} WHERE dataset_id = $1 AND {c.name} LIKE '%:%'"
             for t in TABLES.values() for c in t.columns if c.coded]
    rows = con.execute(f"SELECT DISTINCT p FROM ({' UNION '.join(parts)}) ORDER BY p", [dataset_id]).fetchall()
    return tuple(r[0] for r in rows)


def _frequent(con, table: str, column: str, individual: str, dataset_id: str, min_cell: int) -> tuple[str, ...]:
    rows = con.execute(
        f"SELECT {column} FROM {table} WHERE dataset_id = ? AND {column} IS NOT NULL "
        f"GROUP BY {column} HAVING count(DISTINCT {individual}) >= ? ORDER BY {column}",
        [dataset_id, min_cell]).fetchall()
    return tuple(r[0] for r in rows)


def _typical_ages(con, dataset_id: str, k: int) -> tuple[int | None, int | None]:
    rows = con.execute(
        """SELECT age FROM (SELECT min(age_at_diagnosis) AS age FROM diseases
                            WHERE dataset_id = ? AND age_at_diagnosis IS NOT NULL GROUP BY individual_id)
           ORDER BY age""", [dataset_id]).fetchall()
    ages = [r[0] for r in rows]
    if len(ages) < 2 * k:
        return None, None
    return math.floor(ages[k - 1]), math.ceil(ages[-k])
