"""Model design for the regression analyses (Cox, GLM): covariates as matrix columns, with
categorical variables dummy-coded against a reference level.

The model's design is the union of every node's levels (sorted; the reference is the first
unless the request names another), but no node sees the others' levels. So each node fits in
its *local* design — its own levels, its own first level as reference — and the two are one
reparametrisation apart: with ``T = transform(local, agreed)``, the node's coefficients are
``T @ beta`` and its linear predictor differs from the agreed one by a constant, which the
intercept absorbs (GLM) or the partial likelihood ignores (Cox). The node's statistics carry
back as ``T' g`` and ``T' H T``. The first round, at beta = 0, needs no design at all: there
the nodes also release their level counts (cells) and the hub fixes the agreed design from
them, so no round is spent on agreeing levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from oncofed.analysis import cells, variables
from oncofed.analysis.base import AnalysisError, Partial

INTERCEPT = "Intercept"


@dataclass(frozen=True)
class Term:
    variable: str
    levels: tuple[str, ...] | None = None  # categorical: its levels, sorted; numeric: None
    reference: str | None = None

    @property
    def columns(self) -> list[str]:
        if self.levels is None:
            return [self.variable]
        return [f"{self.variable}[T.{level}]" for level in self.levels if level != self.reference]

    def to_json(self) -> dict:
        return {"variable": self.variable, "levels": None if self.levels is None else list(self.levels),
                "reference": self.reference}

    @classmethod
    def from_json(cls, data: dict) -> Term:
        levels = data["levels"]
        return cls(data["variable"], None if levels is None else tuple(levels), data["reference"])


def categorical(names: list[str]) -> list[str]:
    return [n for n in names if variables.resolve(n).categorical]


def complete_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with every variable present: models use complete cases, as statsmodels and
    lifelines require. (The frame itself when nothing is missing: no copy.)"""
    present = frame.notna().all(axis=1).to_numpy()
    return frame if present.all() else frame[present]


@dataclass(frozen=True)
class Local:
    """A node's own design over its complete cases (its levels, its first level as reference),
    the level counts it releases in the first round, and its factors' sizes for the guard."""

    terms: list[Term]
    cells: dict[str, int]
    levels: dict[str, int]


def local(frame: pd.DataFrame, covariates: list[str], strata: list[str] = ()) -> Local:
    terms, found, sizes = [], {}, {}
    for name in covariates:
        if not variables.resolve(name).categorical:
            terms.append(Term(name))
            continue
        counts = {level: int(n) for level, n in frame[name].value_counts().items() if n}
        levels = tuple(sorted(counts))
        terms.append(Term(name, levels, levels[0] if levels else None))
        found |= {cells.key(name, level): n for level, n in counts.items()}
        sizes[name] = len(levels)
    return Local(terms, found, sizes | {name: int(frame[name].nunique()) for name in strata})


def agree(covariates: list[str], partials: dict[str, Partial], reference: dict[str, str]) -> list[Term]:
    """The hub's design from the nodes' level cells; a suppressed cell still names its level."""
    found: dict[str, set[str]] = {name: set() for name in categorical(covariates)}
    for partial in partials.values():
        for key in [*partial.cells, *partial.suppressed]:
            parts = cells.parts(key)
            if len(parts) == 2 and parts[0] in found:
                found[parts[0]].add(parts[1])
    terms = []
    for name in covariates:
        if name not in found:
            terms.append(Term(name))
            continue
        levels = tuple(sorted(found[name]))
        if len(levels) < 2:
            raise AnalysisError(f"covariate {name!r} has {len(levels)} level(s) in this cohort; a factor needs two")
        ref = reference.get(name, levels[0])
        if ref not in levels:
            raise AnalysisError(f"reference level {ref!r} of {name!r} is not among its levels: {', '.join(levels)}")
        terms.append(Term(name, levels, ref))
    return terms


def columns(terms: list[Term], intercept: bool = False) -> list[str]:
    return [*([INTERCEPT] if intercept else []), *(c for t in terms for c in t.columns)]


def transform(local: list[Term], agreed: list[Term], intercept: bool = False) -> np.ndarray:
    """T, with one row per local column and one column per agreed one: the local coefficients
    are T @ beta (see the module's docstring)."""
    index = {name: j for j, name in enumerate(columns(agreed, intercept))}
    reference = {t.variable: t.reference for t in agreed}
    out = np.zeros((len(columns(local, intercept)), len(index)))

    def unit(term: Term, level: str | None) -> np.ndarray:
        """The agreed coefficient of a level, as a row (zero for the agreed reference)."""
        row = np.zeros(len(index))
        if level is not None and level != reference[term.variable]:
            column = f"{term.variable}[T.{level}]"
            if column not in index:
                raise AnalysisError(f"level {level!r} of {term.variable!r} is not in the agreed design")
            row[index[column]] = 1.0
        return row

    i = 0
    if intercept:
        out[i, index[INTERCEPT]] = 1.0
        for t in local:
            if t.levels is not None:
                out[i] += unit(t, t.reference)  # the local reference's effect moves into the intercept
        i += 1
    for t in local:
        if t.levels is None:
            out[i, index[t.variable]] = 1.0
            i += 1
            continue
        for level in t.levels:
            if level != t.reference:
                out[i] = unit(t, level) - unit(t, t.reference)
                i += 1
    return out


def matrix(frame: pd.DataFrame, terms: list[Term], rows: np.ndarray | None = None,
           intercept: bool = False) -> np.ndarray:
    """The design matrix (float64) of ``frame``'s rows, or of the rows at the positions
    ``rows`` in that order (one copy, however the rows are reordered)."""
    out = np.empty((len(frame) if rows is None else len(rows), len(columns(terms, intercept))))
    j = 0
    if intercept:
        out[:, 0] = 1.0
        j = 1
    for t in terms:
        if t.levels is None:
            values = frame[t.variable].to_numpy(dtype=float)
            out[:, j] = values if rows is None else values[rows]
            j += 1
            continue
        codes = pd.Categorical(frame[t.variable], categories=list(t.levels)).codes
        if (codes < 0).any():
            raise AnalysisError(f"{t.variable!r} has a level outside the design {list(t.levels)}")
        codes = codes if rows is None else codes[rows]
        for k, level in enumerate(t.levels):
            if level != t.reference:
                out[:, j] = codes == k
                j += 1
    return out
