"""The differencing guard: no two answers to one requester may isolate a few individuals.

Two cohorts that differ by a handful of people ("all stage III patients" and "all stage III
patients born before 1990") let a requester subtract one answer from the other and learn
about those few. So a node remembers, per requester, every cohort it answered about, and
refuses a new cohort whose symmetric difference from a remembered one is between 1 and
``min_cell - 1`` individuals. Asking again about the very same cohort (difference 0) is
allowed: it reveals nothing new, and iterative analyses do it at every step.

A cohort is kept as the sorted distinct 64-bit BLAKE2b hashes of its members' pseudonymous
ids (8 bytes a member; collisions are negligible at any cohort size). Only remembered cohorts
whose size is within ``min_cell`` of the new one are compared, since |A Δ B| ≥ ||A| − |B||,
and first by a 1/64 sample of each, so only near-identical cohorts are read in full.

Use, so that every answered cohort is remembered and none slips in between (answered ⇒
remembered):

    cohort = check(con, requester, ids, policy)   before computing the answer (GuardRefusal)
    remember(con, requester, cohort)              after the guard passed the answer and
                                                  before it is sent, in one transaction with
                                                  its audit entry

holding one lock from ``check`` to ``remember`` for the requester, as the node's request
handler does. A refused or failed answer is not remembered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import numpy as np

from oncofed.analysis.base import GuardRefusal
from oncofed.privacy.policy import GuardPolicy
from oncofed.store.connection import one

_HASH = np.dtype("<u8")
_SAMPLE_BELOW = np.uint64(1 << 58)  # hashes below this form a 1/64 sample of a cohort


@dataclass(frozen=True, eq=False)
class Cohort:
    """A cohort as the guard compares and remembers it: its members' hashes, sorted and
    distinct (``Cohort.of`` makes them). Pass it from ``check`` to ``remember`` so the ids
    are hashed once."""

    hashes: np.ndarray

    @classmethod
    def of(cls, ids: Iterable[str] | np.ndarray) -> Cohort:
        digests = b"".join(hashlib.blake2b(str(i).encode(), digest_size=8).digest() for i in ids)
        return cls(np.unique(np.frombuffer(digests, dtype=_HASH)))

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def sample(self) -> np.ndarray:
        return self.hashes[: np.searchsorted(self.hashes, _SAMPLE_BELOW)]


def check(con: duckdb.DuckDBPyConnection, requester: str, ids: Cohort | Iterable[str] | np.ndarray,
          policy: GuardPolicy) -> Cohort:
    """The cohort, for ``remember``; GuardRefusal if it differs from one already answered for
    this requester by fewer than ``min_cell`` individuals, but not by none."""
    cohort = _cohort(ids)
    if not policy.differencing:
        return cohort
    reach = policy.min_cell - 1
    near = con.execute(
        "SELECT id, sample FROM answered_cohorts WHERE requester = ? AND size BETWEEN ? AND ?",
        [requester, len(cohort) - reach, len(cohort) + reach],
    ).fetchall()
    for cohort_id, sample in near:
        # Sampling by hash value commutes with Δ, so the samples' difference is a lower bound
        # of the cohorts' difference: a large one rules a cohort out without reading it all.
        if difference(cohort.sample, np.frombuffer(sample, dtype=_HASH)) >= policy.min_cell:
            continue
        if 0 < difference(cohort.hashes, _members(con, cohort_id)) < policy.min_cell:
            raise GuardRefusal(
                f"this cohort differs by fewer than {policy.min_cell} individuals from one you asked "
                "about before, so the two answers together could single people out (differencing guard)"
            )
    return cohort


def remember(con: duckdb.DuckDBPyConnection, requester: str, ids: Cohort | Iterable[str] | np.ndarray) -> None:
    """Record a cohort as answered for this requester; one already remembered is not stored
    twice (iterative analyses ask about the same cohort at every step)."""
    cohort = _cohort(ids)
    sample = cohort.sample.tobytes()
    same_sample = con.execute(
        "SELECT id FROM answered_cohorts WHERE requester = ? AND size = ? AND sample = ?",
        [requester, len(cohort), sample],
    ).fetchall()
    if any(np.array_equal(cohort.hashes, _members(con, cohort_id)) for (cohort_id,) in same_sample):
        return
    con.execute("INSERT INTO answered_cohorts (requester, answered_at, size, sample, members) "
                "VALUES (?, now(), ?, ?, ?)", [requester, len(cohort), sample, cohort.hashes.tobytes()])


def difference(a: np.ndarray, b: np.ndarray) -> int:
    """|A Δ B| of two sorted distinct hash arrays."""
    if not len(a) or not len(b):
        return len(a) + len(b)
    at = np.searchsorted(b, a).clip(max=len(b) - 1)
    common = int(np.count_nonzero(b[at] == a))
    return len(a) + len(b) - 2 * common


def _cohort(ids: Cohort | Iterable[str] | np.ndarray) -> Cohort:
    return ids if isinstance(ids, Cohort) else Cohort.of(ids)


def _members(con: duckdb.DuckDBPyConnection, cohort_id: int) -> np.ndarray:
    # One row by its key, so DuckDB reads the large column for this row only.
    return np.frombuffer(one(con, "SELECT members FROM answered_cohorts WHERE id = ?", [cohort_id])[0], dtype=_HASH)
