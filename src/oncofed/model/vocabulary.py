"""The curated, source-verified vocabulary (``vocab/terms.tsv``) that labels codes and widens filters.

Each term has one recorded parent: the nearest ancestor *in this file*, so a filter on a term
can include its descendants without shipping whole ontologies. Where and how each code was
verified is in ``vocab/SOURCES.md``. A term may sit in several groups (``sex,vital_status``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

_RESOURCE = "model/vocab/terms.tsv"
COLUMNS = ("id", "label", "parent", "group")


@dataclass(frozen=True)
class Term:
    id: str
    label: str
    parent: str | None
    groups: tuple[str, ...]


def _load() -> dict[str, Term]:
    text = (resources.files("oncofed") / _RESOURCE).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    return {
        row["id"]: Term(
            id=row["id"],
            label=row["label"],
            parent=row["parent"] or None,
            groups=tuple(g.strip() for g in row["group"].split(",") if g.strip()),
        )
        for row in reader
    }


TERMS: Mapping[str, Term] = MappingProxyType(_load())

_CHILDREN: dict[str, list[str]] = {}
for _term in TERMS.values():
    if _term.parent:
        _CHILDREN.setdefault(_term.parent, []).append(_term.id)


def label(curie: str) -> str | None:
    term = TERMS.get(curie)
    return term.label if term else None


def parent(curie: str) -> str | None:
    term = TERMS.get(curie)
    return term.parent if term else None


def ancestors(curie: str) -> list[str]:
    """Parent first, root last; empty for a root or an unknown code."""
    out: list[str] = []
    current = parent(curie)
    while current is not None and current not in out and current != curie:
        out.append(current)
        current = parent(current)
    return out


def descendants(curie: str) -> set[str]:
    """The term itself and everything below it (just the code itself if it is unknown)."""
    found = {curie}
    stack = [curie]
    while stack:
        for child in _CHILDREN.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def group(name: str) -> dict[str, str]:
    """id → label for every term in the group, in file order."""
    return {t.id: t.label for t in TERMS.values() if name in t.groups}
