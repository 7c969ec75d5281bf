"""Which records of an entry type a Beacon query selects, as one parameterised SQL query.

Every criterion of a query (a filter, the variant parameters, an id from the route) is made
of *clauses*, each a SQL condition on one row of one record level:

    individual  alias i   individuals, and the clinical tables through i (diseases …)
    biosample   alias b   biosamples
    call        alias c   calls (one variant in one biosample)
    variant     alias v   variants

A criterion holds when any of its clauses does (a term may be coded at several levels, such
as a grade on a disease and on a biosample); a query holds when every criterion does.
Clauses of another level reach the entry's rows through the links individual → biosample →
call → variant. Two rules keep the answer what a researcher means:

- the variant parameters and every criterion on calls or variants alone describe *one*
  variant in *one* call ("an EGFR variant, somatic"): they are checked on the same row pair;
- for genomic variants, the criteria on individuals and biosamples are checked on the
  carrier of the call ("variants seen in a breast-carcinoma patient under 50").

Values are always bound parameters; SQL text comes only from this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["individual", "biosample", "call", "variant"]
ALIAS: dict[str, str] = {"individual": "i", "biosample": "b", "call": "c", "variant": "v"}
ENTRY_LEVEL = {"individuals": "individual", "biosamples": "biosample", "g_variants": "variant"}
_VARIANT_SIDE = {"call", "variant"}

_CALLS_OF = {  # the calls of an entry's row, with their variants
    "i": "c.dataset_id = i.dataset_id AND c.individual_id = i.id",
    "b": "c.dataset_id = b.dataset_id AND c.biosample_id = b.id",
}
_JOIN_VARIANT = "JOIN variants v ON v.dataset_id = c.dataset_id AND v.id = c.variant_id"


@dataclass(frozen=True)
class Clause:
    level: Level
    sql: str  # a condition over the level's alias (see ALIAS); ? placeholders
    params: tuple = ()


@dataclass(frozen=True)
class Criterion:
    """Holds when any clause holds; with no clause it holds for nothing (a known term that
    this store does not hold)."""

    clauses: tuple[Clause, ...]

    @property
    def levels(self) -> set[str]:
        return {c.level for c in self.clauses}


def criterion(level: Level, sql: str, *params: object) -> Criterion:
    return Criterion((Clause(level, sql, tuple(params)),))


@dataclass(frozen=True)
class Selection:
    """``FROM … WHERE …`` selecting one entry type's rows (alias ``alias``)."""

    entry: str
    alias: str
    sql: str
    params: tuple

    def exists(self) -> tuple[str, list]:
        return f"SELECT EXISTS (SELECT 1 {self.sql})", list(self.params)

    def count(self) -> tuple[str, list]:
        return f"SELECT count(*) {self.sql}", list(self.params)

    def counts_by_dataset(self) -> tuple[str, list]:
        return f"SELECT {self.alias}.dataset_id, count(*) {self.sql} GROUP BY 1", list(self.params)

    def page(self, limit: int, offset: int) -> tuple[str, list]:
        """The keys (dataset, id) of one page, in a stable order."""
        a = self.alias
        order = f"{a}.dataset_id, {a}.chromosome, {a}.position, {a}.id" if a == "v" else f"{a}.dataset_id, {a}.id"
        return (f"SELECT {a}.dataset_id, {a}.id {self.sql} ORDER BY {order} LIMIT ? OFFSET ?",
                [*self.params, limit, offset])

    def people(self) -> tuple[str, list]:
        """The individuals behind the selected records, as ``dataset:pseudonym`` keys (the
        form ``analysis.cohort`` uses, so the differencing guard compares the two)."""
        a = self.alias
        if a == "i":
            return f"SELECT i.dataset_id || ':' || i.id {self.sql}", list(self.params)
        if a == "b":
            return f"SELECT DISTINCT b.dataset_id || ':' || b.individual_id {self.sql}", list(self.params)
        return (f"SELECT DISTINCT c.dataset_id || ':' || c.individual_id FROM calls c "
                f"JOIN (SELECT v.dataset_id, v.id {self.sql}) s ON s.dataset_id = c.dataset_id AND s.id = c.variant_id",
                list(self.params))


def select(entry: str, datasets: list[str], criteria: list[Criterion]) -> Selection:
    """The rows of ``entry`` (individuals, biosamples, g_variants) in ``datasets`` that meet
    every criterion."""
    alias = ALIAS[ENTRY_LEVEL[entry]]
    parts = [(f"{alias}.dataset_id IN ({', '.join('?' for _ in datasets)})", list(datasets)) if datasets
             else ("FALSE", [])]
    variant_side = [c for c in criteria if c.clauses and c.levels <= _VARIANT_SIDE]
    if entry == "g_variants":
        on_variant = [c for c in variant_side if c.levels == {"variant"}]
        parts += [_any(c.clauses) for c in on_variant]
        on_carrier = [c for c in criteria if c not in on_variant]
        if on_carrier:
            parts.append(_carrier_exists(on_carrier))
        base = "FROM variants v"
    else:
        others = [c for c in criteria if c not in variant_side]
        parts += [_any(tuple(_reach(alias, clause) for clause in c.clauses)) for c in others]
        if variant_side:
            parts.append(_calls_exist(alias, variant_side))
        base = f"FROM {entry} {alias}"
        if alias == "b" and any("individual" in c.levels for c in others):
            base += " JOIN individuals i ON i.dataset_id = b.dataset_id AND i.id = b.individual_id"
    where = " AND ".join(sql for sql, _ in parts)
    return Selection(entry, alias, f"{base} WHERE {where}", tuple(p for _, ps in parts for p in ps))


def _any(clauses: tuple[Clause, ...]) -> tuple[str, list]:
    if not clauses:
        return "FALSE", []
    sql = " OR ".join(f"({c.sql})" for c in clauses)
    return (f"({sql})" if len(clauses) > 1 else sql), [p for c in clauses for p in c.params]


def _all(criteria: list[Criterion]) -> tuple[str, list]:
    parts = [_any(c.clauses) for c in criteria]
    return " AND ".join(f"({sql})" for sql, _ in parts) or "TRUE", [p for _, ps in parts for p in ps]


def _reach(alias: str, clause: Clause) -> Clause:
    """A clause as a condition on the entry row ``alias`` (i or b), at the entry's level."""
    level = "individual" if alias == "i" else "biosample"
    if ALIAS[clause.level] == alias or (alias == "b" and clause.level == "individual"):
        return clause  # its own row, or (biosamples) the joined individual
    if clause.level == "biosample":  # from an individual
        return Clause(level, f"EXISTS (SELECT 1 FROM biosamples b WHERE b.dataset_id = i.dataset_id "
                             f"AND b.individual_id = i.id AND ({clause.sql}))", clause.params)
    # a call or variant clause in a criterion that also has clinical clauses
    return Clause(level, f"EXISTS (SELECT 1 FROM calls c {_JOIN_VARIANT} WHERE {_CALLS_OF[alias]} "
                         f"AND ({clause.sql}))", clause.params)


def _calls_exist(alias: str, criteria: list[Criterion]) -> tuple[str, list]:
    sql, params = _all(criteria)
    return f"EXISTS (SELECT 1 FROM calls c {_JOIN_VARIANT} WHERE {_CALLS_OF[alias]} AND {sql})", params


def _carrier_exists(criteria: list[Criterion]) -> tuple[str, list]:
    """A call of variant v whose carrier meets the criteria (one call row for all of them)."""
    levels = set().union(*(c.levels for c in criteria))
    joins = ""
    if "individual" in levels:
        joins += " JOIN individuals i ON i.dataset_id = c.dataset_id AND i.id = c.individual_id"
    if "biosample" in levels:
        joins += " JOIN biosamples b ON b.dataset_id = c.dataset_id AND b.id = c.biosample_id"
    sql, params = _all(criteria)
    return (f"EXISTS (SELECT 1 FROM calls c{joins} WHERE c.dataset_id = v.dataset_id "
            f"AND c.variant_id = v.id AND {sql})", params)
