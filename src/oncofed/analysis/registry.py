"""The declared registry of analyses, by name and version: how the hub finds an analysis's
hub step, how a node finds its node step, and what a node's allow-list names.

The built-in analyses are listed here (one module each, exposing ``ANALYSIS``); a plugin
adds its own with ``register``. A new version of an analysis registers beside the old one,
so a run started under version 1 finishes under version 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from oncofed.analysis.base import AnalysisError, CohortData, Partial, Step

BUILTIN = ("count", "crosstab", "summary", "km", "cox", "glm")  # modules of oncofed.analysis


@dataclass(frozen=True)
class Registered:
    """An analysis (``analysis.base.Analysis``) made of its module's functions."""

    name: str
    version: str
    validate: Callable[[dict], dict]
    node_step: Callable[[CohortData, dict, dict], Partial]
    hub_step: Callable[[dict[str, Partial], dict, dict], Step]
    # The variables whose complete cases the node step analyses (none: the whole cohort), so
    # that a node can guard the set of individuals an answer covers, not only the cohort.
    uses: Callable[[dict], list[str]] = lambda params: []


_analyses: dict[tuple[str, str], Registered] = {}


def register(analysis: Registered) -> Registered:
    key = (analysis.name, analysis.version)
    if key in _analyses and _analyses[key] is not analysis:
        raise ValueError(f"analysis {analysis.name} version {analysis.version} is already registered")
    _analyses[key] = analysis
    return analysis


def _load() -> None:
    for module in BUILTIN:
        register(import_module(f"oncofed.analysis.{module}").ANALYSIS)


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in version.split("."))


def all() -> list[Registered]:  # noqa: A001 - read as registry.all()
    """Every registered analysis and version, by name then version."""
    _load()
    return sorted(_analyses.values(), key=lambda a: (a.name, _version_key(a.version)))


def get(name: str, version: str | None = None) -> Registered:
    """The analysis of that name (its latest version unless one is named), or AnalysisError."""
    versions = [a for a in all() if a.name == name]
    if not versions:
        known = sorted({a.name for a in all()})
        raise AnalysisError(f"unknown analysis {name!r}; known analyses: {', '.join(known)}")
    if version is None:
        return versions[-1]
    for a in versions:
        if a.version == str(version):
            return a
    raise AnalysisError(f"analysis {name!r} has no version {version!r}; "
                        f"versions: {', '.join(a.version for a in versions)}")
