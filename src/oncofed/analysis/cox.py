"""Cox proportional hazards, stratified by node: the federated fit equals a pooled fit with
``strata=node`` (lifelines ``CoxPHFitter(strata=[...])``), Efron or Breslow ties.

Each node is its own stratum (and may be split further by ``strata`` variables, such as
``dataset``), so its partial likelihood is a sum over its own risk sets: every Newton round a
node returns its log partial likelihood, gradient and Hessian at the hub's ``beta`` (stats,
in its local design: see ``design``) and its number of events (a cell). The hub carries them
to the agreed design, sums them and takes the Newton step (``newton``).

The node step orders its rows once per cohort and caches them (``analysis.cache``), so that a
round is a few passes over the rows: one sparse product sums them per group of tied times,
cumulative sums over the groups give every risk set, and one weighted X'X the Hessian.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.stats
from pydantic import Field, model_validator

from oncofed.analysis import cells, design, newton, tables, variables
from oncofed.analysis.base import AnalysisError, CohortData, Partial, Step
from oncofed.analysis.cache import cached
from oncofed.analysis.params import Params, parse
from oncofed.analysis.registry import Registered

NAME, VERSION = "cox", "1"
EVENTS = cells.key("events")


class CoxParams(Params):
    duration: str = "os_days"
    event: str = "os_event"
    covariates: list[str] = Field(min_length=1)
    strata: list[str] = []  # further strata within each node, e.g. ["dataset"]
    ties: Literal["efron", "breslow"] = "efron"
    reference: dict[str, str] = {}  # categorical covariate → reference level
    alpha: float = Field(0.05, gt=0, lt=1)
    tol: float = Field(newton.TOL, gt=0)
    max_iter: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _variables(self) -> CoxParams:
        names = [self.duration, self.event, *self.covariates, *self.strata]
        if len(set(names)) != len(names):
            raise ValueError("duration, event, covariates and strata must all be different variables")
        for name in (self.duration, self.event):
            if variables.resolve(name).categorical:
                raise ValueError(f"{name!r} is categorical; duration and event must be numeric")
        for name in [*self.covariates, *self.strata]:
            variables.resolve(name)
        return self

    @property
    def variables(self) -> list[str]:
        return [self.duration, self.event, *self.covariates, *self.strata]


def validate(params: dict) -> dict:
    return parse(CoxParams, params).model_dump()


@dataclass(frozen=True)
class Prepared:
    """A node's complete cases as the likelihood needs them.

    Rows fall into *groups* of tied times, numbered stratum by stratum (``times`` numbers per
    stratum, the latest first; a number no row has is an empty group), so a group's risk set
    is its own rows and those of the earlier-numbered groups of its stratum. The rows are
    sorted by *segment*: segment 2g holds group g's deaths, 2g+1 its other rows;
    ``segments`` is the CSR row pointer that sums them.
    """

    x: np.ndarray
    event_x: np.ndarray  # the sum of x over the deaths (it does not depend on beta)
    segments: np.ndarray
    strata: int
    times: int
    died: np.ndarray  # the groups with deaths
    deaths: np.ndarray  # deaths in each of them
    pair: np.ndarray  # per death: its group's index in ``died``
    tie: np.ndarray  # per death: l/d for the l-th of its group's d deaths (Efron)
    records: int
    local: design.Local

    @property
    def events(self) -> int:
        return int(self.deaths.sum())

    @cached_property
    def rows(self) -> np.ndarray:  # the column indices of the segment sums: row i is column i
        return np.arange(self.records, dtype=np.int32)

    @cached_property
    def ones(self) -> np.ndarray:
        return np.ones(self.records)


def prepare(frame: pd.DataFrame, p: CoxParams) -> Prepared:
    frame = design.complete_cases(frame)
    time = frame[p.duration].to_numpy(dtype=float)
    event = frame[p.event].to_numpy(dtype=float)
    if not np.isin(event, (0.0, 1.0)).all():
        raise AnalysisError(f"event variable {p.event!r} must be 0 or 1")
    stratum = frame.groupby(p.strata, sort=True, observed=True).ngroup().to_numpy() if p.strata else 0
    strata = int(np.max(stratum, initial=0)) + 1
    # ranks of the distinct times, latest first, by hashing rather than sorting the rows
    codes, distinct = pd.factorize(time)
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[np.argsort(-distinct)] = np.arange(len(distinct))
    group = stratum * len(distinct) + rank[codes]
    segment = 2 * group + (event == 0)
    n_segments = 2 * strata * len(distinct)
    order = np.argsort(segment.astype(np.uint16) if n_segments <= 2**16 else segment, kind="stable")  # radix
    deaths = np.bincount(group, event, minlength=strata * len(distinct)).astype(np.int64)
    died = np.flatnonzero(deaths)
    d = deaths[died]
    pair = np.repeat(np.arange(len(d)), d)
    tie = (np.arange(len(pair)) - (np.cumsum(d) - d)[pair]) / d[pair]
    local = design.local(frame, p.covariates, p.strata)
    x = design.matrix(frame, local.terms, rows=order)
    return Prepared(x, event[order] @ x,
                    np.r_[0, np.cumsum(np.bincount(segment, minlength=n_segments))].astype(np.int32),
                    strata, len(distinct), died, d, pair, tie, len(frame), local)


def _weighted_gram(x: np.ndarray, weight: np.ndarray, block: int = 8192) -> np.ndarray:
    """X' diag(weight) X, a block of rows at a time (the scratch stays in cache)."""
    out = np.zeros((x.shape[1], x.shape[1]))
    scratch = np.empty((min(block, len(x)), x.shape[1]))
    for start in range(0, len(x), block):
        rows = x[start:start + block]
        weighted = np.multiply(rows, weight[start:start + block, None], out=scratch[:len(rows)])
        out += weighted.T @ rows
    return out


def evaluate(prep: Prepared, beta: np.ndarray, ties: str) -> tuple[float, np.ndarray, np.ndarray]:
    """The node's log partial likelihood, gradient and Hessian at ``beta``."""
    k = len(beta)
    if not len(prep.died):
        return 0.0, np.zeros(k), np.zeros((k, k))
    eta = prep.x @ beta
    shift = eta.max()  # a constant shift of eta cancels from every term
    r = np.exp(np.subtract(eta, shift, out=eta), out=eta)
    # per segment, sums of r and of r·x: one sparse product, one pass over x
    sums = scipy.sparse.csr_matrix((r, prep.rows, prep.segments), shape=(len(prep.segments) - 1, len(r)))
    sum0, sum1 = sums @ prep.ones, sums @ prep.x
    dead0, dead1 = sum0[0::2], sum1[0::2]
    shape = (prep.strata, prep.times)
    at_risk0 = np.cumsum((dead0 + sum0[1::2]).reshape(shape), axis=1).ravel()
    at_risk1 = np.cumsum((dead1 + sum1[1::2]).reshape(*shape, k), axis=1).reshape(-1, k)
    s0, s1, e0, e1, d = at_risk0[prep.died], at_risk1[prep.died], dead0[prep.died], dead1[prep.died], prep.deaths
    if ties == "efron":  # the l-th of d tied deaths sees the risk set less l/d of the dying
        phi = s0[prep.pair] - prep.tie * e0[prep.pair]
        inv = 1 / phi
        inv2 = inv * inv
        tie_inv2 = prep.tie * inv2
        starts = np.cumsum(d) - d
        a, b, c, e, f = (np.add.reduceat(v, starts) for v in (inv, prep.tie * inv, inv2, tie_inv2, prep.tie * tie_inv2))
        log_phi = np.log(phi).sum()
    else:  # Breslow: every death sees the whole risk set
        a, c = d / s0, d / s0**2
        b = e = f = np.zeros(len(d))
        log_phi = d @ np.log(s0)
    loglik = float(prep.event_x @ beta - d.sum() * shift - log_phi)
    gradient = prep.event_x - (a @ s1 - b @ e1)
    # Σ_g a_g S2_g - b_g E2_g as one weighted X'X: a row is in the risk set of its group and
    # every later one of its stratum; a death row also carries its group's -b
    a_full, per_segment = np.zeros(at_risk0.shape), np.zeros(len(prep.segments) - 1)
    a_full[prep.died] = a
    later = np.cumsum(a_full.reshape(shape)[:, ::-1], axis=1)[:, ::-1].ravel()
    per_segment[0::2], per_segment[1::2] = later, later
    per_segment[2 * prep.died] -= b
    weight = r * np.repeat(per_segment, np.diff(prep.segments))
    outer = s1.T @ (c[:, None] * s1) - s1.T @ (e[:, None] * e1) - e1.T @ (e[:, None] * s1) + e1.T @ (f[:, None] * e1)
    return loglik, gradient, -(_weighted_gram(prep.x, weight) - outer)


def node_step(data: CohortData, params: dict, state: dict) -> Partial:
    p = parse(CoxParams, params)
    fingerprint = getattr(data, "fingerprint", None)
    key = (fingerprint, NAME, p.duration, p.event, tuple(p.covariates), tuple(p.strata)) if fingerprint else None
    prep = cached(key, lambda: prepare(data.frame(p.variables), p))
    first = "terms" not in state
    terms = prep.local.terms
    beta = (np.zeros(len(design.columns(terms))) if first else
            design.transform(terms, [design.Term.from_json(t) for t in state["terms"]]) @ state["newton"]["beta"])
    loglik, gradient, hessian = evaluate(prep, beta, p.ties)
    found = (prep.local.cells if first else {}) | ({EVENTS: prep.events} if prep.events else {})
    return Partial(records=prep.records, cells=found, parameters=len(beta), levels=prep.local.levels,
                   stats={"loglik": loglik, "gradient": gradient.tolist(), "hessian": hessian.tolist(),
                          "design": [t.to_json() for t in terms]})


SUMMARY_COLUMNS = ["coef", "exp(coef)", "se(coef)", "coef lower {ci}%", "coef upper {ci}%",
                   "exp(coef) lower {ci}%", "exp(coef) upper {ci}%", "cmp to", "z", "p", "-log2(p)"]


def hub_step(partials: dict[str, Partial], params: dict, state: dict) -> Step:
    p = parse(CoxParams, params)
    terms = ([design.Term.from_json(t) for t in state["terms"]] if "terms" in state
             else design.agree(p.covariates, partials, p.reference))
    names = design.columns(terms)
    fit = state.get("newton") or newton.start([0.0] * len(names))
    loglik, gradient, information = 0.0, np.zeros(len(names)), np.zeros((len(names), len(names)))
    for q in partials.values():  # each node's statistics, carried from its own design to the agreed one
        t = design.transform([design.Term.from_json(d) for d in q.stats["design"]], terms)
        loglik += q.stats["loglik"]
        gradient += t.T @ np.asarray(q.stats["gradient"])
        information -= t.T @ np.asarray(q.stats["hessian"]).reshape(len(t), len(t)) @ t
    step = newton.solve(information, gradient, names)
    null = state.get("null", loglik if fit["iteration"] == 1 and fit["accepted"] is None else None)
    following = newton.advance(fit, loglik, step, tol=p.tol, max_iter=p.max_iter)
    if following is not None:
        return Step(False, {"terms": [t.to_json() for t in terms], "newton": following, "null": null})
    return Step(True, result=_result(p, terms, names, np.asarray(fit["beta"]) + step, information, loglik, null,
                                     fit["iteration"], partials))


def _result(p: CoxParams, terms, names, coef, information, loglik, null, iterations, partials) -> dict:
    se = np.sqrt(np.diag(newton.covariance(information, names)))
    w = newton.wald(coef, se, p.alpha)
    ci = round(100 * (1 - p.alpha))
    summary = pd.DataFrame(
        np.column_stack([coef, np.exp(coef), se, w["lower"], w["upper"], np.exp(w["lower"]), np.exp(w["upper"]),
                         np.zeros_like(coef), w["z"], w["p"], w["-log2(p)"]]),
        index=pd.Index(names, name="covariate"), columns=[c.format(ci=ci) for c in SUMMARY_COLUMNS])
    events = {node: q.cells.get(EVENTS, 0) if EVENTS not in q.suppressed else None for node, q in partials.items()}
    result = {
        "analysis": NAME, "summary": tables.to_json(summary), "log_likelihood": loglik,
        "ties": p.ties, "strata": ["node", *p.strata], "iterations": iterations,
        "design": [t.to_json() for t in terms],
        "n": sum(q.records for q in partials.values()),
        "events": None if None in events.values() else sum(events.values()),
        "nodes": {node: {"records": q.records, "events": events[node]} for node, q in partials.items()},
    }
    if null is not None:
        statistic = 2 * (loglik - null)
        result["log_likelihood_ratio_test"] = {"statistic": statistic, "df": len(names),
                                               "p": float(scipy.stats.chi2.sf(statistic, len(names)))}
    return result


def uses(params: dict) -> list[str]:
    p = parse(CoxParams, params)
    return p.variables


ANALYSIS = Registered(NAME, VERSION, validate, node_step, hub_step, uses)
