"""The contract between a federated analysis, the node that runs its node step, the guard
that inspects what the node step returns, and the hub that combines the results.

An analysis is a pair of pure functions:

    node_step(data, params, state) -> Partial     at every node, on its own rows
    hub_step(partials, params, state) -> Step      at the hub, on the nodes' partials

Iterative analyses (Cox, GLM) go round: the hub step returns ``Step(done=False, state=...)``
with the next parameters, every node runs its node step with that state, and so on until the
hub step returns ``Step(done=True, result=...)``.

A ``Partial`` says what it is made of, so that one guard (``privacy.guard``) can judge every
analysis alike: how many individuals contributed (``records``), which numbers are counts of
individuals (``cells``, suppressed when small), how many parameters a model fits, how many
levels each factor has. Everything else goes in ``stats`` (additive aggregates: sums, X'WX,
gradients). A node step must put every count of individuals in ``cells``, never in ``stats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from oncofed.errors import OncofedError


class AnalysisError(OncofedError):
    """A request an analysis cannot run (unknown variable, bad parameter): a 4xx, naming it."""


class GuardRefusal(OncofedError):
    """The guard refused to release an answer; ``reason`` is safe to show (never a small count)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass
class Partial:
    records: int
    cells: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    parameters: int = 0
    levels: dict[str, int] = field(default_factory=dict)
    suppressed: list[str] = field(default_factory=list)  # cell keys the guard withheld

    def to_json(self) -> dict:
        return {"records": self.records, "cells": self.cells, "stats": self.stats,
                "parameters": self.parameters, "levels": self.levels, "suppressed": self.suppressed}

    @classmethod
    def from_json(cls, data: dict) -> Partial:
        return cls(**data)


@dataclass
class Step:
    done: bool
    state: dict[str, Any] = field(default_factory=dict)  # for the next node step
    result: dict[str, Any] | None = None  # JSON-able, when done


class CohortData(Protocol):
    """A node's view of one cohort: the individuals a request's filters select."""

    @property
    def node(self) -> str: ...

    def frame(self, variables: list[str]) -> pd.DataFrame:
        """One row per individual in the cohort, one column per variable (see ``variables``)."""


class Analysis(Protocol):
    name: str
    version: str

    def validate(self, params: dict) -> dict:
        """Checked, normalised parameters, or AnalysisError naming the problem."""

    def node_step(self, data: CohortData, params: dict, state: dict) -> Partial: ...

    def hub_step(self, partials: dict[str, Partial], params: dict, state: dict) -> Step: ...
