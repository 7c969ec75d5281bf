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
"""

from __future__ import annotations

import json

import pycountry
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Engine

from oncofed.hub.catalogue import FACETS, catalogue_datasets, catalogue_nodes, catalogue_terms
from oncofed.hub.store import _aware
from oncofed.model import duo, vocabulary

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


def search(engine: Engine, query: Query) -> dict:
    """{total, page, per_page, datasets: [...], facets: {name: [{value, label, count}]}}"""
    wanted = duo.purpose(query.purpose, query.purpose_disease, commercial=query.commercial) \
        if query.purpose else None
    d, n = catalogue_datasets, catalogue_nodes
    with engine.connect() as c:
        conditions = _conditions(query)
        if wanted is not None:
            keys = c.execute(select(d.c.duo_key).where(*conditions).distinct()).scalars().all()
            conditions.append(d.c.duo_key.in_([k for k in keys if _allows(wanted, k)]))
        matching = select(d.c.id).where(*conditions)
        total = c.execute(select(func.count()).select_from(matching.subquery())).scalar()
        rows = c.execute(
            select(d.c.record, n.c.status, n.c.stale_since).select_from(d.outerjoin(n, n.c.node_id == d.c.node_id))
            .where(*conditions).order_by(d.c.title, d.c.id)
            .limit(query.per_page).offset((query.page - 1) * query.per_page)).all()
        counted = c.execute(
            select(catalogue_terms.c.facet, catalogue_terms.c.value, func.count())
            .where(catalogue_terms.c.dataset_id.in_(matching))
            .group_by(catalogue_terms.c.facet, catalogue_terms.c.value)).all()
        sizes = c.execute(select(*[func.sum(case((_in_bucket(low, high), 1), else_=0)) for _, low, high in SIZES])
                          .where(*conditions)).first()
        purposes = c.execute(select(d.c.duo_key, func.count()).where(*conditions).group_by(d.c.duo_key)).all()
    return {
        "total": total, "page": query.page, "per_page": query.per_page,
        "datasets": [_shown(r.record, r.status, r.stale_since) for r in rows],
        "facets": _facets(counted) | {
            "individuals": [{"value": label, "label": label, "count": int(k or 0)}
                            for (label, _, _), k in zip(SIZES, sizes)],
            "purpose": [{"value": short, "label": vocabulary.label(code), "count": sum(
                k for key, k in purposes if _allows(duo.Purpose(code, commercial=query.commercial), key))}
                for short, code in duo.PURPOSES.items() if code != duo.DS],
        },
    }


def dataset(engine: Engine, dataset_id: str) -> dict | None:
    d, n = catalogue_datasets, catalogue_nodes
    with engine.connect() as c:
        row = c.execute(select(d.c.record, n.c.status, n.c.stale_since)
                        .select_from(d.outerjoin(n, n.c.node_id == d.c.node_id)).where(d.c.id == dataset_id)).first()
    return None if row is None else _shown(row.record, row.status, row.stale_since)


def _conditions(query: Query) -> list:
    d, t = catalogue_datasets, catalogue_terms
    conditions = []
    for word in (query.q or "").lower().split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(d.c.search.like(f"%{escaped}%", escape="\\"))
    cancers = sorted(set().union(*(vocabulary.descendants(code) for code in query.cancer)))
    for facet, values in (("cancer", cancers), ("data_type", query.data_type), ("access", query.access),
                          ("country", [v.upper() for v in query.country]), ("node", query.node)):
        if values:
            conditions.append(d.c.id.in_(select(t.c.dataset_id).where(t.c.facet == facet, t.c.value.in_(values))))
    if query.min_individuals is not None:
        conditions.append(d.c.individuals >= query.min_individuals)
    if query.max_individuals is not None:
        conditions.append(d.c.individuals <= query.max_individuals)
    if not query.stale:
        stale = select(catalogue_nodes.c.node_id).where(catalogue_nodes.c.status == "stale")
        conditions.append(d.c.node_id.not_in(stale))
    return conditions


def _in_bucket(low: int, high: int | None):
    d = catalogue_datasets
    return d.c.individuals >= low if high is None else and_(d.c.individuals >= low, d.c.individuals <= high)


def _allows(wanted: duo.Purpose, key: str) -> bool:
    codes, diseases = json.loads(key)
    return duo.match(wanted, codes, diseases).allowed


def _facets(counted) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {f: [] for f in FACETS}
    for facet, value, count in counted:
        out[facet].append({"value": value, "label": _label(facet, value), "count": count})
    for values in out.values():
        values.sort(key=lambda v: (-v["count"], v["value"]))
    return out


def _label(facet: str, value: str) -> str:
    if facet == "cancer":
        return vocabulary.label(value) or value
    if facet == "country":
        country = pycountry.countries.get(alpha_2=value)
        return country.name if country else value
    return value.replace("_", " ")


def _shown(record: dict, status: str | None, stale_since) -> dict:
    return record | {"stale": status == "stale",
                     "stale_since": _aware(stale_since).isoformat() if stale_since else None}
