"""The node's Beacon v2: a pure function of (store connection, the node as a Beacon, route,
query, caller, guard policy) → a Beacon response, whichever transport brought the request.

    datasets in scope (test mode: synthetic ones only) → granularity → select → guard → audit

**Granularity.** Each dataset states, per access level, the finest granularity it releases
(``dataset_access``; defaults: public boolean, registered count, controlled record). An answer
about records (individuals, biosamples, genomic variants) is given at the coarsest ceiling
among the datasets it covers, or coarser if the request asks so. Record level needs a
visa: only ``controlled`` may have it, and no caller reaches ``controlled`` before visas do.

**Guard.** A count passes ``guard.guard_count``: a small count (1 … min_cell - 1) is never
shown; the answer falls back to boolean (exists) and says why in ``info``. For an identified
requester the individuals behind a count also pass the differencing guard, and are
remembered with the audit entry in one transaction; a refused count also falls back to
boolean.

**Collections.** Datasets and cohorts are described at record level to everyone: they are
the node's public catalogue, not records of people. A cohort's size is a count, so it is
shown only where the caller may see counts, guarded.

Every request to a query endpoint is audited (kind ``beacon``): released, refused (a bad
request, a bad token) or error. The caller holds the node's lock around ``answer``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import duckdb

import oncofed
from oncofed.analysis import cache
from oncofed.analysis.base import GuardRefusal
from oncofed.auth.visas import Grant
from oncofed.beacon import filters, records, responses, selection, terms, variants
from oncofed.beacon.entry_types import ENTRY_TYPES, RECORDS, EntryType
from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import BeaconQuery, parse_body
from oncofed.beacon.responses import BeaconInfo
from oncofed.beacon.selection import Criterion, criterion
from oncofed.errors import OncofedError, UnknownDatasetError
from oncofed.model.schema import ACCESS_LEVELS, DATASET_ACCESS, GRANULARITIES
from oncofed.node import audit
from oncofed.node.home import NodeHome
from oncofed.privacy import differencing, guard
from oncofed.privacy.policy import GuardPolicy

log = logging.getLogger(__name__)

# Record level needs a visa for the dataset (the controlled level).
_NEEDS_VISA = "record"
_ID_CLAUSE = {"individuals": ("individual", "i.id = ?"), "biosamples": ("biosample", "b.id = ?"),
              "g_variants": ("variant", "v.id = ?")}


@dataclass(frozen=True)
class Route:
    """Which endpoint: ``/<entry>``, ``/<entry>/<id>`` or ``/<entry>/<id>/<related>``."""

    entry: str
    id: str | None = None
    related: str | None = None

    @property
    def path(self) -> str:
        return "/" + "/".join(p for p in (self.entry, self.id, self.related) if p)

    @property
    def target(self) -> str:
        """The entry type the endpoint returns."""
        return self.related or self.entry


@dataclass(frozen=True)
class Caller:
    level: str  # public | registered
    requester: str | None = None  # who, when identified (for the differencing guard and the audit log)
    grants: Mapping[str, Grant] = field(default_factory=dict)  # dataset → the permit opening it (controlled)

    def ceiling(self, access: DatasetAccess) -> str:
        return access.ceiling("controlled" if access.dataset in self.grants else self.level)


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    datasets: dict[str, str] | None = None  # dataset → content hash of the version the answer used


DOCUMENTS = responses.DOCUMENTS


def route_of(path: str) -> Route | None:
    """The query endpoint a path (under /api) names; None for an informational document;
    BeaconError 404 for anything else."""
    parts = [p for p in path.strip("/").split("/") if p] or [""]
    if len(parts) == 1 and parts[0] in DOCUMENTS:
        return None
    if parts == ["filtering_terms"]:
        return Route("filtering_terms")
    e = ENTRY_TYPES.get(parts[0])
    if e is not None and len(parts) <= 2:
        return Route(e.path, parts[1] if len(parts) == 2 else None)
    if e is not None and len(parts) == 3 and (parts[2] in e.related or (e.collection and parts[2] == "filtering_terms")):
        return Route(e.path, parts[1], parts[2])
    raise BeaconError(f"no Beacon endpoint /{'/'.join(parts)}; /map lists them all", 404)


@dataclass(frozen=True)
class DatasetAccess:
    dataset: str
    public: str = DATASET_ACCESS["public"]
    registered: str = DATASET_ACCESS["registered"]
    controlled: str = DATASET_ACCESS["controlled"]
    synthetic: bool = False

    def ceiling(self, level: str) -> str:
        return getattr(self, level)


def beacon_info(home: NodeHome, url: str = "") -> BeaconInfo:
    c = home.config
    return BeaconInfo(id=f"urn:oncofed:node:{home.id}", name=f"{c.name} Beacon", organization_id=home.id,
                      organization=c.name, description=f"GA4GH Beacon v2 of the oncofed node {c.name} ({c.country})",
                      created=c.created_at, software_version=oncofed.__version__, url=url)


# --- dataset access settings ---------------------------------------------------------------


def access(con: duckdb.DuckDBPyConnection) -> dict[str, DatasetAccess]:
    """Every dataset's settings (defaults where the steward set none)."""
    return {d.id: d.access for d in _datasets(con)}


def set_access(con: duckdb.DuckDBPyConnection, dataset: str, *, public: str | None = None,
               registered: str | None = None, controlled: str | None = None,
               synthetic: bool | None = None) -> DatasetAccess:
    """Change a dataset's ceilings (each from boolean, count, record; finer for higher levels;
    record only for controlled access) or its synthetic flag; returns the new settings."""
    settings = access(con)
    if dataset not in settings:
        raise UnknownDatasetError(dataset, list(settings))
    old = settings[dataset]
    new = DatasetAccess(dataset, public or old.public, registered or old.registered, controlled or old.controlled,
                        old.synthetic if synthetic is None else synthetic)
    for level in ACCESS_LEVELS:
        if new.ceiling(level) not in GRANULARITIES:
            raise OncofedError(f"--{level}: expected one of {', '.join(GRANULARITIES)}, got {new.ceiling(level)!r}")
    for level in ("public", "registered"):
        if new.ceiling(level) == _NEEDS_VISA:
            raise OncofedError(f"--{level}: record level needs a visa for the dataset (controlled access)")
    ranks = [GRANULARITIES.index(new.ceiling(level)) for level in ACCESS_LEVELS]
    if ranks != sorted(ranks):
        raise OncofedError("each access level must see at least what the level below it sees "
                           "(public ≤ registered ≤ controlled)")
    con.execute("INSERT OR REPLACE INTO dataset_access VALUES (?, ?, ?, ?, ?, now())",
                [dataset, new.public, new.registered, new.controlled, new.synthetic])
    return new


# --- the envelope path (a hub's request, over the direct or the relay transport) ---------------


def over_envelope(con: duckdb.DuckDBPyConnection, home: NodeHome, request: object, requester: str | None,
                  refusal: str | None = None, grants: Mapping[str, Grant] | None = None,
                  refusal_status: int = 401) -> dict[str, Any]:
    """A hub's Beacon request ``{"path": "/individuals", "query": <beaconRequestBody>}``,
    answered at the researcher's registered level, controlled for the datasets ``grants``
    opens (public level when the hub passes on no researcher): ``{"status": "ok", "beacon":
    <the Beacon response>, "datasets": {dataset: content hash}}``; a request the node will not
    answer (``refusal``: the token's or the Passport's fault, 401, or too many requests, 429)
    is ``"refused"`` with the reason and the Beacon error."""
    beacon = beacon_info(home)
    caller = Caller("registered", requester, grants or {}) if requester is not None else Caller("public")
    path = str(request.get("path", "")) if isinstance(request, dict) else ""
    route = Route(path.strip("/") or "?")
    try:
        if refusal is not None:
            raise BeaconError(refusal, refusal_status)
        if not isinstance(request, dict):
            raise BeaconError('beacon: expected {"path": "/individuals", "query": <beaconRequestBody>}')
        found = route_of(path)
        if found is None:
            return {"status": "ok", "beacon": DOCUMENTS[path.strip("/")](beacon), "datasets": {}}
        route = found
        query = parse_body(request.get("query"))
    except BeaconError as e:
        reply = refuse(con, beacon, route, e, caller)
    else:
        reply = answer(con, beacon, route, query, caller, home.config.guard)
    if reply.status < 400:
        return {"status": "ok", "beacon": reply.body, "datasets": reply.datasets or {}}
    reason = reply.body["error"]["errorMessage"]
    return {"status": "refused" if reply.status < 500 else "error", "reason": reason, "beacon": reply.body}


# --- answering -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dataset:
    row: dict[str, Any]
    access: DatasetAccess

    @property
    def id(self) -> str:
        return self.row["id"]


@dataclass
class _Answer:
    """One request being answered: what it asks, and what it read of the store once."""

    con: duckdb.DuckDBPyConnection
    beacon: BeaconInfo
    route: Route
    query: BeaconQuery
    caller: Caller
    policy: GuardPolicy
    scope: list[_Dataset]  # the datasets the answer covers
    content: tuple  # names the store's content, for caches
    entry: dict  # the audit entry

    @cached_property
    def terms(self) -> terms.TermIndex:
        return terms.index(self.con, self.content)

    def meta(self, entry: EntryType, granularity: str) -> dict:
        return responses.meta(self.beacon, self.query, entry, granularity)

    def released(self, released: dict, body: dict, members: differencing.Cohort | None = None) -> Reply:
        """Audit a released answer; a counted cohort is remembered in the same transaction."""
        entry = {**self.entry, "outcome": "released", "released": {"route": self.route.path, **released}}
        if members is None:
            audit.append(self.con, entry)
        else:
            self.con.execute("BEGIN")
            try:
                differencing.remember(self.con, self.caller.requester, members)
                audit.append(self.con, entry)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        return Reply(200, body, self.entry["datasets"])


def answer(con: duckdb.DuckDBPyConnection, beacon: BeaconInfo, route: Route, query: BeaconQuery,
           caller: Caller, policy: GuardPolicy) -> Reply:
    """The Beacon response to a parsed request, audited; never raises for a bad request."""
    entry = {"requester": caller.requester, "kind": "beacon", "datasets": {},
             "request_digest": audit.digest({"route": route.path, "query": query.to_body(), "level": caller.level})}
    try:
        datasets = _datasets(con)
        scope = _scope(datasets, route, query)
        if route.target in RECORDS:
            scope = _record_scope(scope, caller, query)
        entry["datasets"] = {d.id: d.row["content_hash"] for d in scope if d.row["content_hash"]}
        a = _Answer(con, beacon, route, query, caller, policy, scope, _content(datasets), entry)
        if route.target == "filtering_terms":
            return _terms(a)
        if route.target in RECORDS:
            return _records(a)
        return _collections(a)
    except BeaconError as e:
        return refuse(con, beacon, route, e, caller, query, entry)
    except Exception:
        log.exception("Beacon request failed")
        audit.append(con, {**entry, "outcome": "error", "reason": "internal error"})
        return Reply(500, responses.error(beacon, 500, "the node failed to answer (see its log)", query))


def refuse(con: duckdb.DuckDBPyConnection, beacon: BeaconInfo, route: Route, error: BeaconError,
           caller: Caller, query: BeaconQuery | None = None, entry: dict | None = None) -> Reply:
    """A Beacon error response for a request refused before or while answering, audited."""
    entry = entry or {"requester": caller.requester, "kind": "beacon", "datasets": {},
                      "request_digest": audit.digest({"route": route.path, "level": caller.level})}
    audit.append(con, {**entry, "outcome": "refused", "reason": str(error)})
    return Reply(error.status, responses.error(beacon, error.status, str(error), query))


def _datasets(con: duckdb.DuckDBPyConnection) -> list[_Dataset]:
    """Every dataset with its current version and access settings (three plain reads: on
    DuckDB a join of these small tables costs more than the query that follows)."""
    current: dict[str, tuple] = {}
    for dataset, version, content_hash, created_at in con.execute(
            "SELECT dataset_id, version, content_hash, created_at FROM dataset_versions").fetchall():
        if dataset not in current or version > current[dataset][0]:
            current[dataset] = (version, content_hash, created_at)
    settings = {r[0]: DatasetAccess(*r) for r in con.execute(
        "SELECT dataset_id, public_granularity, registered_granularity, controlled_granularity, synthetic "
        "FROM dataset_access").fetchall()}
    rows = con.execute("SELECT id, title, description, duo, licence, created_at FROM datasets ORDER BY id").fetchall()
    names = ["id", "title", "description", "duo", "licence", "created_at", "version", "content_hash", "updated_at"]
    return [_Dataset(dict(zip(names, (*r, *current.get(r[0], (None, None, None))))),
                     settings.get(r[0], DatasetAccess(r[0]))) for r in rows]


def _content(datasets: list[_Dataset]) -> tuple:
    """Names the store's content: each dataset's current content hash."""
    return tuple((d.id, d.row["content_hash"]) for d in datasets if d.row["content_hash"])


def _scope(datasets: list[_Dataset], route: Route, query: BeaconQuery) -> list[_Dataset]:
    """The datasets a request covers: in test mode only synthetic ones, otherwise only real
    ones (testMode asks for an answer from non-sensitive data); those the request names; one,
    on a dataset's route."""
    datasets = [d for d in datasets if d.access.synthetic == query.test_mode]
    if query.datasets is not None:  # ids this node does not hold are another node's: not an error
        datasets = [d for d in datasets if d.id in query.datasets]
    if route.entry in ("datasets", "cohorts") and route.id is not None:
        if route.id not in {d.id for d in datasets}:
            held = ", ".join(d.id for d in datasets) or "none"
            raise BeaconError(f"id: no dataset {route.id!r} at this Beacon; it holds {held}", 404)
        return [d for d in datasets if d.id == route.id]
    return datasets


def _record_scope(scope: list[_Dataset], caller: Caller, query: BeaconQuery) -> list[_Dataset]:
    """A caller who may see records of some of the datasets in scope (a permit for them) and
    asks for records gets the records of those datasets, rather than a count of all."""
    if query.granularity not in (None, "record"):
        return scope
    opened = [d for d in scope if caller.ceiling(d.access) == "record"]
    return opened or scope


def _criteria(a: _Answer) -> list[Criterion]:
    # the term index scans every record table once per store content: only filters need it
    found = filters.criteria(a.query.filters, a.terms) if a.query.filters else []
    found += variants.criteria(a.query.variant, lambda: _ref_span(a))
    if a.route.id is not None and a.route.entry in _ID_CLAUSE:
        level, sql = _ID_CLAUSE[a.route.entry]
        found.append(criterion(level, sql, a.route.id))
    return found


def _ref_span(a: _Answer) -> int:
    """The longest stored reference allele: how far before a range a variant may start."""
    return cache.cached(("beacon-ref-span", a.content), lambda: a.con.execute(
        "SELECT coalesce(max(length(ref)), 1) FROM variants").fetchall()[0][0])


def _granularity(a: _Answer) -> str:
    ceilings = [GRANULARITIES.index(a.caller.ceiling(d.access)) for d in a.scope] or \
        [GRANULARITIES.index(DATASET_ACCESS[a.caller.level])]
    requested = GRANULARITIES.index(a.query.granularity or GRANULARITIES[-1])
    return GRANULARITIES[min(min(ceilings), requested)]


def _records(a: _Answer) -> Reply:
    target = ENTRY_TYPES[a.route.target]
    criteria = _criteria(a)
    sel = selection.select(target.path, [d.id for d in a.scope], criteria)
    granularity = _granularity(a)
    if granularity == "boolean":
        exists = bool(a.con.execute(*sel.exists()).fetchall()[0][0])
        return a.released({"granularity": "boolean"}, responses.boolean(a.meta(target, "boolean"), exists))
    if granularity == "count":
        # Variants chosen by genomic criteria alone are a fact about the data any boolean query
        # over a narrower region reveals; who carries them matters once people are selected.
        about_people = target.path != "g_variants" or any(c.levels & {"individual", "biosample"} for c in criteria)
        return _count(a, target, sel, about_people)
    return _record_sets(a, target, sel)


def _count(a: _Answer, target: EntryType, sel: selection.Selection, about_people: bool) -> Reply:
    n = a.con.execute(*sel.count()).fetchall()[0][0]
    shown = guard.guard_count(n, a.policy)
    reason, members = None, None
    if shown is None:
        reason = (f"the count is below this node's minimum of {a.policy.min_cell}, so only whether "
                  "there are any is released")
    elif n and about_people and a.caller.requester is not None and a.policy.differencing:
        people = [r[0] for r in a.con.execute(*sel.people()).fetchall()]
        if people:
            try:
                members = differencing.check(a.con, a.caller.requester, people, a.policy)
            except GuardRefusal as e:
                reason = f"{e}; only whether there are any is released"
    if reason is not None:
        note = {"granularity": {"requested": "count", "returned": "boolean", "reason": reason}}
        return a.released({"granularity": "boolean", "withheld": "count"},
                          responses.boolean(a.meta(target, "boolean"), True, note))
    return a.released({"granularity": "count"}, responses.count(a.meta(target, "count"), shown), members)


def _record_sets(a: _Answer, target: EntryType, sel: selection.Selection) -> Reply:
    per_dataset = dict(a.con.execute(*sel.counts_by_dataset()).fetchall())
    keys = a.con.execute(*sel.page(a.query.page_size, a.query.offset)).fetchall()
    found = _fetch(a.con, target.path, keys, a.terms.label)
    shown = {
        "HIT": [d.id for d in a.scope if per_dataset.get(d.id)],
        "ALL": [d.id for d in a.scope],
        "MISS": [d.id for d in a.scope if not per_dataset.get(d.id)],
        "NONE": [],
    }[a.query.include_resultsets]
    sets = [responses.result_set(d, [r for (ds, _), r in zip(keys, found) if ds == d], per_dataset.get(d, 0))
            for d in shown]
    body = responses.result_sets(a.meta(target, "record"), sum(per_dataset.values()), sets)
    permits = {d.id: a.caller.grants[d.id].permit for d in a.scope if d.id in a.caller.grants}
    return a.released({"granularity": "record", "records": len(found), "permits": permits}, body)


def _fetch(con: duckdb.DuckDBPyConnection, entry: str, keys: list[tuple[str, str]], label) -> list[dict]:
    """The records of one page, in the order of ``keys``."""
    if not keys:
        return []
    wanted = [f"{d}\x1f{i}" for d, i in keys]

    def rows(table: str, key: str) -> dict[tuple[str, str], list[dict]]:
        result = con.execute(f"SELECT * FROM {table} WHERE list_contains(?, dataset_id || chr(31) || {key})",
                             [wanted])
        names = [c[0] for c in result.description]
        grouped: dict[tuple[str, str], list[dict]] = {}
        for r in result.fetchall():
            row = dict(zip(names, r))
            grouped.setdefault((row["dataset_id"], row[key]), []).append(row)
        return grouped

    if entry == "individuals":
        own = rows("individuals", "id")
        parts = {t: rows(t, "individual_id") for t in ("diseases", "treatments", "measurements", "phenotypic_features")}
        return [records.individual(own[k][0], {t: p.get(k, []) for t, p in parts.items()}, label) for k in keys]
    if entry == "biosamples":
        own = rows("biosamples", "id")
        return [records.biosample(own[k][0], label) for k in keys]
    own = rows("variants", "id")
    calls = rows("calls", "variant_id")
    return [records.genomic_variation(own[k][0], calls.get(k, []), label) for k in keys]


def _terms(a: _Answer) -> Reply:
    """``/filtering_terms``, or one dataset's: what a filter can name there."""
    found = terms.filtering_terms(a.terms, {d.id for d in a.scope})
    return a.released({"terms": len(found)}, responses.filtering_terms(a.beacon, found))


def _collections(a: _Answer) -> Reply:
    target = ENTRY_TYPES[a.route.target]
    scope = a.scope
    if a.query.filters or a.query.variant.given():  # the datasets holding matching individuals
        sel = selection.select("individuals", [d.id for d in scope], _criteria(a))
        holding = {r[0] for r in a.con.execute(*sel.counts_by_dataset()).fetchall()}
        scope = [d for d in scope if d.id in holding]
    page = scope[a.query.offset:a.query.offset + a.query.page_size]
    if target.path == "datasets":
        found = [records.dataset(d.row) for d in page]
    else:
        found = [records.cohort(d.row, _cohort_size(a, d), sorted(a.terms.of("individuals.sex", {d.id})),
                                sorted(a.terms.of("diseases.code", {d.id})), a.terms.label) for d in page]
    body = responses.collections(a.meta(target, "record"), found, len(scope))
    return a.released({"granularity": "record", "records": len(found)}, body)


def _cohort_size(a: _Answer, d: _Dataset) -> int | None:
    if GRANULARITIES.index(a.caller.ceiling(d.access)) < GRANULARITIES.index("count"):
        return None
    n = a.con.execute("SELECT count(*) FROM individuals WHERE dataset_id = ?", [d.id]).fetchall()[0][0]
    return guard.guard_count(n, a.policy)
