"""Summary of a numeric variable: n, mean and standard deviation, exact; quantiles read off a
histogram on a grid the hub proposes.

Round 1: each node releases its n (as ``records``), the sum and the sum of squared deviations
from its own mean (combined at the hub as Chan et al.'s parallel variance, which keeps full
precision where raw sums of squares lose it), and a *guarded range*: not its minimum and
maximum, which are single individuals' values, but its min_cell-th smallest and largest
values, rounded outward to two significant digits of their spread. Round 2: every node
counts its values on the hub's equal-width bins over the widest range (values outside go to
the end bins), merges bins where the counts are too small to release (``grid``) and releases
the counts as cells. Quantiles are interpolated linearly within bins: exact to a bin.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, model_validator

from oncofed.analysis import cells, grid, variables
from oncofed.analysis.base import AnalysisError, CohortData, Partial, Step
from oncofed.analysis.params import Params, parse
from oncofed.analysis.registry import Registered

NAME, VERSION = "summary", "1"
MISSING = cells.key("missing")


class SummaryParams(Params):
    variable: str
    bins: int = Field(20, ge=1, le=1000)
    quantiles: list[float] = [0.25, 0.5, 0.75]

    @model_validator(mode="after")
    def _check(self) -> SummaryParams:
        if variables.resolve(self.variable).categorical:
            raise ValueError(f"{self.variable!r} is categorical: summarise it with a crosstab or a count")
        if not all(0 < q < 1 for q in self.quantiles):
            raise ValueError("quantiles must lie strictly between 0 and 1")
        return self


def validate(params: dict) -> dict:
    return parse(SummaryParams, params).model_dump()


def guarded_range(x: np.ndarray, rank: int) -> list[float] | None:
    """The rank-th smallest and largest values, rounded outward (None when too few values)."""
    if len(x) < 2 * rank:
        return None
    ordered = np.sort(x)
    low, high = float(ordered[rank - 1]), float(ordered[-rank])
    spread = high - low or abs(low) or 1.0
    step = 10.0 ** (math.floor(math.log10(spread)) - 1)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    return [low, high if high > low else low + step]


def _values(data: CohortData, variable: str) -> tuple[np.ndarray, int]:
    column = data.frame([variable])[variable].to_numpy()
    x = column[~np.isnan(column)]
    return x, len(column) - len(x)


def node_step(data: CohortData, params: dict, state: dict) -> Partial:
    p = parse(SummaryParams, params)
    x, missing = _values(data, p.variable)
    if "range" not in state:
        mean = float(x.mean()) if len(x) else 0.0
        return Partial(records=len(x), cells={MISSING: missing} if missing else {},
                       stats={"sum": float(x.sum()), "m2": float(((x - mean) ** 2).sum()),
                              "range": guarded_range(x, cells.min_cell(data))})
    low, high = state["range"]
    base = np.clip(((x - low) / (high - low) * state["bins"]).astype(np.int64), 0, state["bins"] - 1)
    counts = np.bincount(base, minlength=state["bins"])
    found = grid.blocks(counts[None, :], cells.min_cell(data))
    if found is None:
        return Partial(records=len(x), stats={grid.UNRELEASABLE: True})
    binned = {cells.key(start, end): int(counts[start:end].sum()) for start, end in found}
    return Partial(records=len(x), cells={key: n for key, n in binned.items() if n})


def hub_step(partials: dict[str, Partial], params: dict, state: dict) -> Step:
    p = parse(SummaryParams, params)
    if "range" not in state:
        return _moments(partials, p)
    result = dict(state["result"])
    failed = sorted(node for node, q in partials.items() if grid.UNRELEASABLE in q.stats or q.suppressed)
    if failed:
        result["notes"] = [*result["notes"], f"no histogram: the counts of {', '.join(failed)} are too small "
                                             "to release at any bin width"]
        return Step(True, result=result)
    found = [(*cells.parts(key), n) for q in partials.values() for key, n in q.cells.items()]
    agreed = grid.agree([[tuple(cells.parts(key)) for key in q.cells] for q in partials.values()], state["bins"])
    starts = [start for start, _ in agreed]
    counts = [0] * len(agreed)
    for start, end, n in found:
        counts[grid.within((start, end), starts)] += n
    base = np.linspace(*state["range"], state["bins"] + 1)
    edges = [*base[starts].tolist(), float(base[-1])]
    if any(end - start > 1 for start, end in agreed):
        result["notes"] = [*result["notes"], "bins merged where a node's counts were too small to release, so "
                                             "that no count below a node's minimum cell size leaves it"]
    result["histogram"] = {"edges": edges, "counts": counts}
    result["quantiles"] = {str(q): _quantile(np.asarray(edges), np.asarray(counts, dtype=float), q)
                           for q in p.quantiles}
    return Step(True, result=result)


def _moments(partials: dict[str, Partial], p: SummaryParams) -> Step:
    n = np.array([q.records for q in partials.values()], dtype=float)
    sums = np.array([q.stats["sum"] for q in partials.values()])
    total = n.sum()
    if total == 0:
        raise AnalysisError(f"no individual in the cohort has a value for {p.variable!r}")
    mean = sums.sum() / total
    node_means = np.divide(sums, n, out=np.zeros_like(sums), where=n > 0)
    m2 = sum(q.stats["m2"] for q in partials.values()) + float((n * (node_means - mean) ** 2).sum())
    totals, suppressed = cells.combine(partials)
    ranges = [q.stats["range"] for q in partials.values() if q.stats["range"] is not None]
    result = {
        "analysis": NAME, "variable": p.variable, "n": int(total), "mean": float(mean),
        "sd": float(math.sqrt(m2 / (total - 1))) if total > 1 else None,
        "missing": None if MISSING in suppressed else totals.get(MISSING, 0),
        "range": [min(r[0] for r in ranges), max(r[1] for r in ranges)] if ranges else None,
        "histogram": None, "quantiles": None,
        "notes": ["range: the nodes' min_cell-th smallest and largest values, rounded outward; "
                  "the minimum and maximum themselves are never released"],
        "nodes": {node: q.records for node, q in partials.items()},
    }
    if not ranges:
        result["notes"].append("no histogram: no node has enough values to release a range")
        return Step(True, result=result)
    return Step(False, {"range": result["range"], "bins": p.bins, "result": result})


def _quantile(edges: np.ndarray, counts: np.ndarray, q: float) -> float:
    """The q-quantile of binned values, interpolated linearly within its bin."""
    cumulative = np.cumsum(counts)
    target = q * cumulative[-1]
    j = int(np.searchsorted(cumulative, target))
    before = cumulative[j - 1] if j else 0.0
    share = (target - before) / counts[j] if counts[j] else 0.0
    return float(edges[j] + share * (edges[j + 1] - edges[j]))


def uses(params: dict) -> list[str]:
    p = parse(SummaryParams, params)
    return [p.variable]


ANALYSIS = Registered(NAME, VERSION, validate, node_step, hub_step, uses)
