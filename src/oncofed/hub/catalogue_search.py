"""Search the harvested catalogue: full text plus facets, paged, with the count of every facet
value over the matching datasets (so a page can offer the next filter).

- ``q``: every word must occur in the title, description, keywords, publisher, population
  coverage or cancer-type labels (case-insensitive).
- ``cancer``: a cancer type includes its descendants in the vocabulary (breast carcinoma
  finds invasive ductal carcinoma).
- ``data_type``, ``country`` (where held or whom the data covers), ``access``, ``node``:
  any of the given values.
- ``purpose``: the dataset's DUO codes allow this research purpose (``model.duo``).
- ``min_individuals`` / ``max_individuals``: on the released (guarded) number; a dataset whose
  number is withheld never matches a bound.

Each hub process searches an in-memory index of the catalogue tables (boolean masks over
posting lists, so every facet's counts cost one vectorised pass), rebuilt when a harvest has
changed the tables; the database stays the truth, shared by every process.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import pycountry
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from oncofed.hub import catalogue
from oncofed.model import duo, vocabulary

FACETS = ("cancer", "data_type", "country", "access", "node")
# Buckets of the individuals facet: (label, lowest, highest) inclusive.
SIZES = (("fewer than 100", 0, 99), ("100–999", 100, 999), ("1,000–9,999", 1000, 9999),
         ("10,000 or more", 10000, None))


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str | None = None
    cancer: list[str] = []
    data_type: list[str] = []
    country: list[str] = []
    access: list[str] = []
    node: list[str] = []
    purpose: str | None = Field(None, description="GRU, HMB, DS or POA, or its DUO code")
    purpose_disease: list[str] = Field([], description="for DS: the diseases studied")
    commercial: bool = False
    min_individuals: int | None = Field(None, ge=0)
    max_individuals: int | None = Field(None, ge=0)
    stale: bool = Field(True, description="include datasets of nodes that stopped answering")
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=200)


def terms(record: dict) -> list[tuple[str, str]]:
    """The facet values of a dataset. Country: where it is held and whom it covers."""
    values = [("cancer", c) for c in record["cancer_types"]] + [("data_type", t) for t in record["data_types"]]
    values += [("country", c) for c in sorted({record["held_in"], *record["countries"]})]
    values += [("node", record["node"])] + ([("access", record["access"])] if record["access"] else [])
    return values


def text(record: dict) -> str:
    words = [record["title"], record["description"], *record["keywords"], record["node"], record["dataset"],
             record["publisher"] or "", record["population_coverage"] or "",
             *(vocabulary.label(c) or c for c in record["cancer_types"])]
    return " ".join(words).lower()


@dataclass
class Index:
    """The catalogue, ordered as results are (by title, then id), as arrays to filter and count."""

    records: list[dict]
    texts: list[str]
    individuals: np.ndarray  # float; NaN where withheld
    stale: np.ndarray  # bool
    postings: dict[tuple[str, str], np.ndarray]  # (facet, value) → positions
    duo_keys: dict[str, np.ndarray]  # DUO codes and DS diseases (JSON) → positions

    @classmethod
    def build(cls, rows: list[tuple[dict, str | None, object]]) -> Index:
        rows = sorted(rows, key=lambda r: (r[0]["title"], r[0]["id"]))
        records = [_shown(*r) for r in rows]
        postings: dict[tuple[str, str], list[int]] = {}
        keys: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            for term in terms(r):
                postings.setdefault(term, []).append(i)
            keys.setdefault(json.dumps([sorted(r["duo"]), sorted(r["duo_diseases"])]), []).append(i)
        return cls(records, [text(r) for r in records],
                   np.array([np.nan if r["individuals"] is None else r["individuals"] for r in records], float),
                   np.array([r["stale"] for r in records], bool),
                   {k: np.array(v, np.intp) for k, v in postings.items()},
                   {k: np.array(v, np.intp) for k, v in keys.items()})

    def search(self, query: Query) -> dict:
        wanted = duo.purpose(query.purpose, query.purpose_disease, commercial=query.commercial) \
            if query.purpose else None
        mask = np.ones(len(self.records), bool)
        for word in (query.q or "").lower().split():
            mask &= np.fromiter((word in t for t in self.texts), bool, len(self.texts))
        cancers = set().union(*(vocabulary.descendants(code) for code in query.cancer))
        for facet, values in (("cancer", cancers), ("data_type", query.data_type), ("access", query.access),
                              ("country", [v.upper() for v in query.country]), ("node", query.node)):
            if values:
                mask &= self._any(facet, values)
        with np.errstate(invalid="ignore"):
            if query.min_individuals is not None:
                mask &= self.individuals >= query.min_individuals
            if query.max_individuals is not None:
                mask &= self.individuals <= query.max_individuals
        if not query.stale:
            mask &= ~self.stale
        if wanted is not None:
            mask &= self._allowing(wanted)
        matched = np.flatnonzero(mask)
        start = (query.page - 1) * query.per_page
        return {
            "total": int(len(matched)), "page": query.page, "per_page": query.per_page,
            "datasets": [self.records[i] for i in matched[start:start + query.per_page]],
            "facets": self._facets(mask) | {"individuals": self._sizes(mask),
                                            "purpose": self._purposes(mask, query.commercial)},
        }

    def _any(self, facet: str, values) -> np.ndarray:
        hit = np.zeros(len(self.records), bool)
        for value in values:
            if (positions := self.postings.get((facet, value))) is not None:
                hit[positions] = True
        return hit

    def _allowing(self, wanted: duo.Purpose) -> np.ndarray:
        hit = np.zeros(len(self.records), bool)
        for key, positions in self.duo_keys.items():
            codes, diseases = json.loads(key)
            if duo.match(wanted, codes, diseases).allowed:
                hit[positions] = True
        return hit

    def _facets(self, mask: np.ndarray) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {f: [] for f in FACETS}
        for (facet, value), positions in self.postings.items():
            if count := int(mask[positions].sum()):
                out[facet].append({"value": value, "label": _label(facet, value), "count": count})
        for values in out.values():
            values.sort(key=lambda v: (-v["count"], v["value"]))
        return out

    def _sizes(self, mask: np.ndarray) -> list[dict]:
        sizes = self.individuals[mask]
        return [{"value": label, "label": label,
                 "count": int(((sizes >= low) & (sizes <= (np.inf if high is None else high))).sum())}
                for label, low, high in SIZES]

    def _purposes(self, mask: np.ndarray, commercial: bool) -> list[dict]:
        return [{"value": short, "label": vocabulary.label(code),
                 "count": int((mask & self._allowing(duo.Purpose(code, commercial=commercial))).sum())}
                for short, code in duo.PURPOSES.items() if code != duo.DS]


_indexes: weakref.WeakKeyDictionary[Engine, tuple[tuple, Index]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def index(engine: Engine) -> Index:
    """This process's index of the catalogue in ``engine``, rebuilt after a harvest changed it."""
    current = catalogue.generation(engine)
    with _lock:
        held = _indexes.get(engine)
        if held is None or held[0] != current:
            held = (current, Index.build(catalogue.stored(engine)))
            _indexes[engine] = held
        return held[1]


def search(engine: Engine, query: Query) -> dict:
    """{total, page, per_page, datasets: [...], facets: {name: [{value, label, count}]}}"""
    return index(engine).search(query)


def dataset(engine: Engine, dataset_id: str) -> dict | None:
    found = catalogue.stored(engine, dataset_id)
    return _shown(*found[0]) if found else None


def _label(facet: str, value: str) -> str:
    if facet == "cancer":
        return vocabulary.label(value) or value
    if facet == "country":
        country = pycountry.countries.get(alpha_2=value)
        return country.name if country else value
    return value.replace("_", " ")


def _shown(record: dict, status: str | None, stale_since) -> dict:
    return record | {"stale": status == "stale", "stale_since": stale_since.isoformat() if stale_since else None}
