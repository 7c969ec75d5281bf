"""Cells: the counts of individuals a node step releases, and how the hub adds them up.

A cell's key is a JSON list of its parts (a variable's level, an interval …), since levels may
hold any character. A node lists only non-zero cells, so a key no node mentions is zero. A
key the guard withheld at any node (``Partial.suppressed``) has no total: the sum is unknown,
and a hub step must show it as suppressed, never as a number.
"""

from __future__ import annotations

import json

from oncofed.analysis.base import CohortData, Partial
from oncofed.privacy.policy import GuardPolicy

DEFAULT_POLICY = GuardPolicy()


def key(*parts: object) -> str:
    return json.dumps(list(parts))


def parts(cell: str) -> list:
    return json.loads(cell)


def level(value: object) -> object:
    """A variable's value as a level in a key or a table: codes as text, whole numbers as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def combine(partials: dict[str, Partial]) -> tuple[dict[str, int], set[str]]:
    """Totals over the nodes of every cell no node suppressed, and the suppressed keys."""
    suppressed = {k for p in partials.values() for k in p.suppressed}
    totals: dict[str, int] = {}
    for p in partials.values():
        for k, n in p.cells.items():
            if k not in suppressed:
                totals[k] = totals.get(k, 0) + n
    return totals, suppressed


def releasable(n, min_cell: int):
    """Whether the guard would release a count (or each of an array of counts) as it is: zero,
    or at least the minimum."""
    return (n == 0) | (n >= min_cell)


def min_cell(data: CohortData) -> int:
    """The node's minimum cell size, for node steps that pick a grid the guard will not cut
    into (see ``cohort.Selection``); the default policy's when the data does not say."""
    return getattr(data, "policy", DEFAULT_POLICY).min_cell

