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
  model: ``min_records`` does not apply, its cells follow the small-count rule, and when
  ``records`` itself is small every cell is withheld with it (``records`` reads 0 and is
  listed in ``suppressed``), so that a count of 7 is released and a count of 3 is not.
- Rounding goes to the nearest multiple of ``count_rounding``, halves up, and never down to
  0, so a rounded count never reads as "nobody".
- A model's partial (with stats) holding a small count is refused whole, not thinned: its
  stats may imply the count (the score at β = 0 gives the number of events).
- Refusal reasons name the rule and the policy's threshold, never a count from the data.

Not covered here (it needs to know which cells add up to a released total): complementary
disclosure, where a withheld cell can be recovered by subtraction from a released total.
"""

from __future__ import annotations

import copy
from numbers import Integral

from oncofed.analysis.base import GuardRefusal, Partial
from oncofed.privacy.policy import GuardPolicy


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
    released_records = guard_count(records, policy)
    suppressed = list(partial.suppressed)
    cells: dict[str, int] = {}
    if released_records is None:
        suppressed += [*partial.cells, "records"]
        released_records = 0
    else:
        for key, n in partial.cells.items():
            released = guard_count(_count(key, n), policy)
            if released is None:
                suppressed.append(key)
            else:
                cells[key] = released
    return Partial(records=released_records, cells=cells, levels=dict(partial.levels), suppressed=suppressed)


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
