"""Kaplan–Meier survival, per group, with the log-rank test between groups.

The nodes share a base time grid: intervals of ``interval`` days, or the intervals between
``cuts`` (follow-up ends at the last cut, or at ``horizon``: later times are censored there).
A node counts, per group and interval, the events and the censorings, merges intervals where
those counts are too small to release (``grid``) and releases them as cells; a time is placed
at the end of its interval, which is exactly a pooled Kaplan–Meier on the durations rounded
up to the grid. The hub adds the counts over the nodes, derives everyone at risk, and
computes survival, Greenwood's variance and lifelines' default confidence interval
(exponential Greenwood, log(-log) transformed), the median and the log-rank test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats
from pydantic import Field, model_validator

from oncofed.analysis import cells, grid, tables, variables
from oncofed.analysis.base import AnalysisError, CohortData, Partial, Step
from oncofed.analysis.params import Params, parse
from oncofed.analysis.registry import Registered

NAME, VERSION = "km", "1"
DEFAULT_INTERVAL = 30.0
ALL = "all"  # the one group of an ungrouped curve
KINDS = ("events", "censored")


class KMParams(Params):
    duration: str = "os_days"
    event: str = "os_event"
    group: str | None = None
    interval: float | None = Field(None, gt=0)
    cuts: list[float] | None = None
    horizon: float | None = Field(None, gt=0)
    alpha: float = Field(0.05, gt=0, lt=1)

    @model_validator(mode="after")
    def _check(self) -> KMParams:
        for name in (self.duration, self.event):
            if variables.resolve(name).categorical:
                raise ValueError(f"{name!r} is categorical; duration and event must be numeric")
        if self.group is not None:
            variables.resolve(self.group)
        if self.cuts is not None:
            if self.interval is not None or self.horizon is not None:
                raise ValueError("give either cuts, or an interval (and a horizon), not both")
            if not self.cuts or self.cuts[0] <= 0 or any(b <= a for a, b in zip(self.cuts, self.cuts[1:])):
                raise ValueError("cuts must be increasing times after 0")
        return self

    @property
    def width(self) -> float:
        return self.interval or DEFAULT_INTERVAL

    @property
    def end(self) -> float | None:
        """Where follow-up ends: later times are censored there."""
        return self.cuts[-1] if self.cuts is not None else self.horizon


def validate(params: dict) -> dict:
    return parse(KMParams, params).model_dump()


def interval_index(time: np.ndarray, p: KMParams) -> np.ndarray:
    """Each time's base interval, from 0: (0, w] is 0 (and holds time 0), (w, 2w] is 1 …"""
    if p.cuts is not None:
        return np.searchsorted(p.cuts, time, side="left")
    return np.maximum(0, np.ceil(time / p.width).astype(np.int64) - 1)


def end_time(end: np.ndarray, p: KMParams) -> np.ndarray:
    """When the intervals before base interval ``end`` end: where a block [start, end) ends."""
    if p.cuts is not None:
        return np.asarray(p.cuts)[np.asarray(end) - 1]
    return np.asarray(end) * p.width


def _variables(p: KMParams) -> list[str]:
    return [p.duration, p.event, *([p.group] if p.group else [])]


def _rows(data: CohortData, p: KMParams) -> pd.DataFrame:
    frame = data.frame(_variables(p)).dropna()
    time, event = frame[p.duration].to_numpy(), frame[p.event].to_numpy()
    if not np.isin(event, (0.0, 1.0)).all():
        raise AnalysisError(f"event variable {p.event!r} must be 0 or 1")
    if (time < 0).any():
        raise AnalysisError(f"duration variable {p.duration!r} has negative times at node {data.node}")
    if p.end is not None:  # follow-up ends there: later events are censored at the end
        event = np.where(time > p.end, 0.0, event)
        time = np.minimum(time, p.end)
    group = [str(cells.level(v)) for v in frame[p.group]] if p.group else ALL
    return pd.DataFrame({"time": time, "event": event, "group": group})


def node_step(data: CohortData, params: dict, state: dict) -> Partial:
    p = parse(KMParams, params)
    rows = _rows(data, p)
    if not len(rows):
        return Partial(records=0)
    levels, group = np.unique(rows["group"].to_numpy(dtype=str), return_inverse=True)
    index = interval_index(rows["time"].to_numpy(), p)
    width = int(index.max(initial=-1)) + 1
    series = 2 * group + (rows["event"].to_numpy() == 0)  # per group: events, then censorings
    counts = np.bincount(series * width + index, minlength=2 * len(levels) * width).reshape(-1, width)
    found = grid.blocks(counts, cells.min_cell(data))
    factor = {p.group: len(levels)} if p.group else {}
    if found is None:
        return Partial(records=len(rows), stats={grid.UNRELEASABLE: True}, levels=factor)
    total = np.concatenate([np.zeros((len(counts), 1)), np.cumsum(counts, axis=1)], axis=1)
    released = {}
    for start, end in found:
        for k, n in enumerate(total[:, min(end, width)] - total[:, min(start, width)]):
            if n:
                released[cells.key(str(levels[k // 2]), start, end, KINDS[k % 2])] = int(n)
    return Partial(records=len(rows), cells=released, levels=factor)


def hub_step(partials: dict[str, Partial], params: dict, state: dict) -> Step:
    p = parse(KMParams, params)
    if not any(q.records for q in partials.values()):
        raise AnalysisError(
            f"no individual of the cohort has both {p.duration!r} and {p.event!r} at any node that answered; a "
            "dataset may record another endpoint (days:<endpoint CURIE> with event:<endpoint CURIE>, e.g. "
            "days:ONCOFED:recurrence_free_survival)")
    left_out = sorted(node for node, q in partials.items() if grid.UNRELEASABLE in q.stats or q.suppressed)
    notes = [f"{node} left out: its counts are too small to release on any grid (a group there has too few "
             "events or censorings)" for node in left_out]
    partials = {node: q for node, q in partials.items() if node not in left_out}
    if not partials:
        raise AnalysisError("no node's survival counts can be released on any grid; drop the group or widen the cohort")
    found = [(*cells.parts(key), n) for q in partials.values() for key, n in q.cells.items()]
    agreed = grid.agree([(start, end) for _, start, end, _ in map(cells.parts, q.cells)] for q in partials.values())
    starts = [start for start, _ in agreed]
    table = pd.DataFrame([(g, grid.within((start, end), starts), kind, n) for g, start, end, kind, n in found],
                         columns=["group", "index", "kind", "n"])
    table = table.pivot_table(index=["group", "index"], columns="kind", values="n", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=list(KINDS), fill_value=0).reset_index()
    ends = end_time(np.array([end for _, end in agreed], dtype=np.int64), p)
    curves = [_curve(g, part, ends, p.alpha) for g, part in table.groupby("group", sort=True)]
    summary = pd.concat(curves, ignore_index=True)
    if not p.group:
        summary = summary.drop(columns="group")
    merged = max(end - start for start, end in agreed)
    if merged > 1:
        notes.append(f"base intervals merged (up to {merged} in one) where a node's counts were too small to "
                     "release, so that no count below a node's minimum cell size leaves it")
    medians = {str(c["group"].iloc[0]): _median(c) for c in curves}
    return Step(True, result={
        "analysis": NAME, "summary": tables.to_json(summary),
        "median": medians if p.group else medians.get(ALL),
        "logrank": _logrank(table) if p.group and table["group"].nunique() > 1 else None,
        "grid": {"interval": p.width} if p.cuts is None else {"cuts": p.cuts},
        "notes": notes, "nodes": {node: q.records for node, q in partials.items()},
    })


def _at_risk(part: pd.DataFrame) -> np.ndarray:
    """At risk at each interval (rows in time order): everyone, less those who left before."""
    leaving = (part["events"] + part["censored"]).to_numpy()
    return leaving.sum() - np.r_[0, np.cumsum(leaving)[:-1]]


def _curve(group, part: pd.DataFrame, ends: np.ndarray, alpha: float) -> pd.DataFrame:
    part = part.sort_values("index")
    n, d = _at_risk(part).astype(float), part["events"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1 - d / n)
        greenwood = np.cumsum(np.where(n > d, d / (n * (n - d)), 0.0))  # lifelines: a term of inf counts 0
        z = scipy.stats.norm.ppf(1 - alpha / 2)
        v = np.log(survival)
        lower = np.exp(-np.exp(np.log(-v) - z * np.sqrt(greenwood) / v))
        upper = np.exp(-np.exp(np.log(-v) + z * np.sqrt(greenwood) / v))
    curve = pd.DataFrame({
        "group": group, "timeline": ends[part["index"].to_numpy()].astype(float),
        "at_risk": n.astype(int), "events": d.astype(int), "censored": part["censored"].to_numpy(),
        "survival": survival, "ci_lower": np.nan_to_num(lower, nan=1.0), "ci_upper": np.nan_to_num(upper, nan=1.0),
    })
    start = pd.DataFrame({"group": [group], "timeline": [0.0], "at_risk": [int(n[0])], "events": [0], "censored": [0],
                          "survival": [1.0], "ci_lower": [1.0], "ci_upper": [1.0]})
    return pd.concat([start, curve], ignore_index=True)


def _median(curve: pd.DataFrame) -> float | None:
    """The first time survival reaches 0.5 or below (None: not reached), as lifelines reads it."""
    reached = curve.loc[curve["survival"] <= 0.5, "timeline"]
    return float(reached.iloc[0]) if len(reached) else None


def _logrank(table: pd.DataFrame) -> dict:
    """The log-rank test of equal survival in all groups (chi-square, groups - 1 df)."""
    groups = sorted(table["group"].unique())
    times = np.sort(table["index"].unique())
    at_risk, deaths = np.zeros((len(groups), len(times))), np.zeros((len(groups), len(times)))
    for g, name in enumerate(groups):
        part = table[table["group"] == name].set_index("index").reindex(times, fill_value=0)
        at_risk[g], deaths[g] = _at_risk(part), part["events"].to_numpy()
    n, d = at_risk.sum(0), deaths.sum(0)
    observed_minus_expected = (deaths - d * at_risk / n).sum(1)
    share = at_risk / n
    spread = np.where(n > 1, d * (n - d) / np.where(n > 1, n - 1, 1), 0.0)
    variance = np.diag((spread * share).sum(1)) - (spread * share) @ share.T
    u, v = observed_minus_expected[:-1], variance[:-1, :-1]
    statistic = float(u @ np.linalg.solve(v, u))
    return {"test_statistic": statistic, "df": len(groups) - 1,
            "p": float(scipy.stats.chi2.sf(statistic, len(groups) - 1)), "groups": groups}


def uses(params: dict) -> list[str]:
    return _variables(parse(KMParams, params))


ANALYSIS = Registered(NAME, VERSION, validate, node_step, hub_step, uses)
