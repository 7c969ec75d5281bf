"""Generalised linear models by iteratively reweighted least squares: linear (Gaussian,
identity link), logistic (Binomial, logit) and Poisson (log link, with an offset or an
exposure), equal to statsmodels' GLM on the pooled rows.

Each round a node returns, at the hub's ``beta``, its X'WX, X'Wz, deviance and Pearson
chi-square (stats, in its local design: see ``design``); the hub carries them to the agreed
design, sums them and solves for the next ``beta``: for these canonical links a Newton step,
halved when the deviance would grow (``newton``). The first round starts, as statsmodels
does, from means near the outcomes rather than from coefficients, so it needs no design yet.
Standard errors come from the summed X'WX, scaled for the Gaussian family by Pearson's
chi-square over the residual degrees of freedom, as statsmodels does. A binomial model's
number of events is a count of individuals, released as a cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.special
from pydantic import Field, model_validator

from oncofed.analysis import cells, design, newton, tables, variables
from oncofed.analysis.base import AnalysisError, CohortData, Partial, Step
from oncofed.analysis.cache import cached
from oncofed.analysis.params import Params, parse
from oncofed.analysis.registry import Registered

NAME, VERSION = "glm", "1"
EVENTS = cells.key("events")


class GLMParams(Params):
    outcome: str
    covariates: list[str] = []
    family: Literal["gaussian", "binomial", "poisson"] = "gaussian"
    offset: str | None = None  # added to the linear predictor as it is
    exposure: str | None = None  # log(exposure) is added (Poisson)
    reference: dict[str, str] = {}
    alpha: float = Field(0.05, gt=0, lt=1)
    tol: float = Field(newton.TOL, gt=0)
    max_iter: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _variables(self) -> GLMParams:
        names = self.variables
        if len(set(names)) != len(names):
            raise ValueError("outcome, covariates, offset and exposure must all be different variables")
        for name in names:
            var = variables.resolve(name)
            if var.categorical and name != self.outcome and name not in self.covariates:
                raise ValueError(f"{name!r} is categorical; an offset or exposure must be numeric")
        if variables.resolve(self.outcome).categorical:
            raise ValueError(f"outcome {self.outcome!r} is categorical; a GLM needs a numeric outcome (0/1 for binomial)")
        if self.exposure is not None and self.family != "poisson":
            raise ValueError("an exposure needs the Poisson family (log link)")
        return self

    @property
    def variables(self) -> list[str]:
        return [self.outcome, *self.covariates, *[v for v in (self.offset, self.exposure) if v]]


def validate(params: dict) -> dict:
    return parse(GLMParams, params).model_dump()


@dataclass(frozen=True)
class Prepared:
    x: np.ndarray  # in the node's local design (see ``design``), the intercept first
    y: np.ndarray
    offset: np.ndarray
    local: design.Local


def prepare(frame: pd.DataFrame, p: GLMParams) -> Prepared:
    frame = design.complete_cases(frame)
    y = frame[p.outcome].to_numpy(dtype=float)
    if p.family == "binomial" and not np.isin(y, (0.0, 1.0)).all():
        raise AnalysisError(f"a binomial outcome must be 0 or 1; {p.outcome!r} is not")
    if p.family == "poisson" and (y < 0).any():
        raise AnalysisError(f"a Poisson outcome must be a count (≥ 0); {p.outcome!r} is not")
    offset = frame[p.offset].to_numpy(dtype=float) if p.offset else np.zeros(len(y))
    if p.exposure:
        exposure = frame[p.exposure].to_numpy(dtype=float)
        if (exposure <= 0).any():
            raise AnalysisError(f"exposure {p.exposure!r} must be positive")
        offset = offset + np.log(exposure)
    local = design.local(frame, p.covariates)
    return Prepared(design.matrix(frame, local.terms, intercept=True), y, offset, local)


def evaluate(prep: Prepared, beta: np.ndarray | None, family: str) -> dict:
    """X'WX, X'Wz, deviance and Pearson chi-square at beta (z: the working response), or, with
    no beta yet, at statsmodels' starting means: IRLS's first step needs no coefficients."""
    y = prep.y
    if beta is not None:
        eta = prep.x @ beta + prep.offset
    elif family == "gaussian":
        eta = (y + y.mean()) / 2
    else:
        start = (y + 0.5) / 2  # binomial: statsmodels' start; Poisson: a positive one (all-zero nodes too)
        eta = scipy.special.logit(start) if family == "binomial" else np.log(start)
    if family == "gaussian":
        mu, weight, variance = eta, np.ones_like(eta), np.ones_like(eta)
        deviance = float(((y - mu) ** 2).sum())
    elif family == "binomial":
        mu = scipy.special.expit(eta)
        weight = variance = mu * (1 - mu)
        deviance = float(-2 * (y * scipy.special.log_expit(eta) + (1 - y) * scipy.special.log_expit(-eta)).sum())
    else:
        mu = np.exp(eta)
        weight = variance = mu
        deviance = float(2 * (scipy.special.xlogy(y, y / mu) - (y - mu)).sum())
    working = eta - prep.offset + (y - mu) / weight
    xw = prep.x * weight[:, None]
    return {"xtwx": (xw.T @ prep.x).tolist(), "xtwz": (xw.T @ working).tolist(), "deviance": deviance,
            "pearson_chi2": float(((y - mu) ** 2 / variance).sum()), "loglik": _loglik(y, mu, eta, family)}


def _loglik(y: np.ndarray, mu: np.ndarray, eta: np.ndarray, family: str) -> float | None:
    """The additive part of the log-likelihood (Gaussian: at the hub, from the deviance)."""
    if family == "binomial":
        return float((y * scipy.special.log_expit(eta) + (1 - y) * scipy.special.log_expit(-eta)).sum())
    if family == "poisson":
        return float((scipy.special.xlogy(y, mu) - mu - scipy.special.gammaln(y + 1)).sum())
    return None


def node_step(data: CohortData, params: dict, state: dict) -> Partial:
    p = parse(GLMParams, params)
    fingerprint = getattr(data, "fingerprint", None)
    key = (fingerprint, NAME, tuple(p.variables), p.family) if fingerprint else None
    prep = cached(key, lambda: prepare(data.frame(p.variables), p))
    first = "terms" not in state
    terms = prep.local.terms
    beta = None if first else design.transform(
        terms, [design.Term.from_json(t) for t in state["terms"]], intercept=True) @ state["newton"]["beta"]
    events = int(prep.y.sum()) if p.family == "binomial" else 0
    found = (prep.local.cells if first else {}) | ({EVENTS: events} if events else {})
    return Partial(records=len(prep.y), cells=found, parameters=prep.x.shape[1], levels=prep.local.levels,
                   stats={**evaluate(prep, beta, p.family), "design": [t.to_json() for t in terms]})


def hub_step(partials: dict[str, Partial], params: dict, state: dict) -> Step:
    p = parse(GLMParams, params)
    terms = ([design.Term.from_json(t) for t in state["terms"]] if "terms" in state
             else design.agree(p.covariates, partials, p.reference))
    names = design.columns(terms, intercept=True)
    xtwx, xtwz = np.zeros((len(names), len(names))), np.zeros(len(names))
    for q in partials.values():  # each node's statistics, carried from its own design to the agreed one
        t = design.transform([design.Term.from_json(d) for d in q.stats["design"]], terms, intercept=True)
        xtwx += t.T @ np.asarray(q.stats["xtwx"]) @ t
        xtwz += t.T @ np.asarray(q.stats["xtwz"])
    solution = newton.solve(xtwx, xtwz, names)
    if "newton" not in state:  # the first IRLS step, from the starting means
        return Step(False, {"terms": [t.to_json() for t in terms], "newton": newton.start(solution.tolist())})
    fit = state["newton"]
    deviance = sum(q.stats["deviance"] for q in partials.values())
    step = solution - np.asarray(fit["beta"])
    following = newton.advance(fit, -deviance, step, tol=p.tol, max_iter=p.max_iter)
    if following is not None:
        return Step(False, {"terms": [t.to_json() for t in terms], "newton": following})
    n = sum(q.records for q in partials.values())
    pearson = sum(q.stats["pearson_chi2"] for q in partials.values())
    df_resid = n - len(names)
    if df_resid <= 0:
        raise AnalysisError(f"the model has {len(names)} parameters for {n} individuals")
    scale = pearson / df_resid if p.family == "gaussian" else 1.0
    coef = np.asarray(fit["beta"]) + step
    se = np.sqrt(np.diag(scale * newton.covariance(xtwx, names)))
    w = newton.wald(coef, se, p.alpha)
    summary = pd.DataFrame({"coef": coef, "std err": se, "z": w["z"], "P>|z|": w["p"],
                            f"[{p.alpha / 2:g}": w["lower"], f"{1 - p.alpha / 2:g}]": w["upper"]},
                           index=pd.Index(names, name="term"))
    loglik = (-n / 2 * (np.log(2 * np.pi * deviance / n) + 1) if p.family == "gaussian"
              else sum(q.stats["loglik"] for q in partials.values()))
    events, withheld = cells.combine(partials)
    return Step(True, result={
        "analysis": NAME, "family": p.family, "summary": tables.to_json(summary), "n": n,
        "events": (None if EVENTS in withheld else events.get(EVENTS, 0)) if p.family == "binomial" else None,
        "df_resid": df_resid, "deviance": deviance, "pearson_chi2": pearson, "scale": scale,
        "log_likelihood": float(loglik), "aic": float(-2 * loglik + 2 * len(names)),
        "iterations": fit["iteration"], "design": [t.to_json() for t in terms],
        "nodes": {node: q.records for node, q in partials.items()},
    })


def uses(params: dict) -> list[str]:
    p = parse(GLMParams, params)
    return p.variables


ANALYSIS = Registered(NAME, VERSION, validate, node_step, hub_step, uses)
