"""Disclosure control on every answer that leaves the node, whatever handler made it.

The guard judges a ``Partial`` by what it declares (records, cells, parameters, levels), so
one set of rules covers every analysis. It either refuses the whole answer (``GuardRefusal``)
or returns a copy with small cells withheld and counts rounded; the input is never changed.

Decisions:
- A count of 0 is released as 0, as Beacon does: "nobody" discloses no individual, and the
  group it describes has passed the minimum-records rule.
- A withheld cell loses its value and is listed in ``suppressed``; it is never shown as "<5".
- ``records`` is released exactly (hub steps need it, e.g. for degrees of freedom) and only
  when it reaches both ``min_records`` and ``min_cell``: a released number of individuals
  must itself pass the small-count rule.
- A partial of counts only (a count, a crosstab: no stats, no parameters) is a table, not a
  model: ``min_records`` does not apply, and its cells follow the small-count rule.
- A single count (one cell, no factor levels) that is small is withheld and marked
  (``records`` reads 0 and is listed in ``suppressed`` with the cell), so that a count of 7 is
  released and a count of 3 is not, and the hub can say which node withheld its part.
- A table of several cells with a small one is refused whole, as DataSHIELD does: withholding
  only that cell is not enough, since it can be recovered by subtraction from a total the
  requester holds or can ask for (the table's records, the cohort's count, a row's count).
- Rounding goes to the nearest multiple of ``count_rounding``, halves up, and never down to
  0, so a rounded count never reads as "nobody".
- A model's partial (with stats) holding a small count is refused whole, not thinned: its
  stats may imply the count (the score at β = 0 gives the number of events).
- Refusal reasons name the rule and the policy's threshold, never a count from the data.
"""

from __future__ import annotations

import copy
from numbers import Integral

from oncofed.analysis.base import GuardRefusal, Partial
from oncofed.privacy.policy import GuardPolicy

RECORDS = "records"  # listed in Partial.suppressed when the guard withheld a count's individuals


def apply(partial: Partial, policy: GuardPolicy) -> Partial:
    """The releasable copy of a node step's partial, or GuardRefusal saying which rule failed."""
    records = _count("records", partial.records)
    if not partial.stats and not partial.parameters:
        return _table(partial, records, policy)
    smallest = max(policy.min_records, policy.min_cell)
    if records < smallest:
        raise GuardRefusal(f"the cohort has fewer than {smallest} individuals with every variable the analysis uses, "
                           "the minimum for any analysis")
    if partial.parameters > policy.max_parameter_ratio * records:
        raise GuardRefusal(
            "the model has too many parameters for the size of this cohort "
            f"(at most {policy.max_parameter_ratio:g} parameters per individual)"
        )
    for factor, levels in sorted(partial.levels.items()):
        if levels > policy.max_levels:
            raise GuardRefusal(f"factor {factor!r} has more than {policy.max_levels} levels")
    cells: dict[str, int] = {}
    for key, n in partial.cells.items():
        released = guard_count(_count(key, n), policy)
        if released is None:
            raise GuardRefusal(f"a count in this model ({key}) is below the minimum of {policy.min_cell}; "
                               "its statistics could reveal it")
        cells[key] = released
    return Partial(
        records=records,
        cells=cells,
        stats=copy.deepcopy(partial.stats),
        parameters=partial.parameters,
        levels=dict(partial.levels),
        suppressed=list(partial.suppressed),
    )


def _table(partial: Partial, records: int, policy: GuardPolicy) -> Partial:
    for factor, levels in sorted(partial.levels.items()):
        if levels > policy.max_levels:
            raise GuardRefusal(f"factor {factor!r} has more than {policy.max_levels} levels")
    released = {key: guard_count(_count(key, n), policy) for key, n in partial.cells.items()}
    released_records = guard_count(records, policy)
    if released_records is not None and None not in released.values():
        return Partial(records=released_records, cells=released, levels=dict(partial.levels),
                       suppressed=list(partial.suppressed))
    if len(partial.cells) <= 1 and not partial.levels:
        return Partial(records=0, suppressed=[*partial.suppressed, *partial.cells, RECORDS])
    raise GuardRefusal(f"a cell of this table holds fewer than {policy.min_cell} individuals, and a table is "
                       "released whole or not at all: a withheld cell could be recovered from the others "
                       "and a total")


def guard_count(n: int, policy: GuardPolicy) -> int | None:
    """A single count as it may be released: None when suppressed (0 < n < min_cell), else
    0 or n rounded to the policy's base."""
    n = _count("count", n)
    if n == 0:
        return 0
    if n < policy.min_cell:
        return None
    base = policy.count_rounding
    if base == 1:
        return n
    return max(base, (n + base // 2) // base * base)


def _count(name: str, n: object) -> int:
    # A node-step bug, not a request problem; the message carries no value from the data.
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
        raise ValueError(f"{name} must be a non-negative integer count of individuals")
    return int(n)
