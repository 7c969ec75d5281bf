"""What a node store holds that a Beacon filter can name, and where: the coded columns with
the codes present in each dataset, the alphanumeric fields, and the custom terms.

One index serves both sides: ``beacon.filters`` matches a term against the columns that
hold it, and ``filtering_terms`` lists exactly what a filter can find. Reading it scans the
record tables once, so it is cached per store content (the datasets' content hashes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import duckdb

from oncofed.analysis import cache, variables
from oncofed.beacon.selection import Clause, Level
from oncofed.model import curie, vocabulary


@dataclass(frozen=True)
class Place:
    """A coded column, and how "this record holds one of these codes" reads there."""

    table: str
    column: str
    level: Level
    sql: str  # a condition on the level's alias with one ? for the list of codes

    @property
    def key(self) -> str:
        return f"{self.table}.{self.column}"

    def clause(self, codes: list[str]) -> Clause:
        return Clause(self.level, self.sql, (codes,))


def _clinical(table: str, column: str, extra: str = "") -> Place:
    return Place(table, column, "individual",
                 f"EXISTS (SELECT 1 FROM {table} x WHERE x.dataset_id = i.dataset_id AND x.individual_id = i.id "
                 f"AND list_contains(?, x.{column}){extra})")


def _own(table: str, column: str, level: Level, alias: str) -> Place:
    return Place(table, column, level, f"list_contains(?, {alias}.{column})")


# Exposures reach an individual directly or through the region they live in.
_EXPOSED = ("EXISTS (SELECT 1 FROM exposures x WHERE x.dataset_id = i.dataset_id AND (x.individual_id = i.id "
            "OR (x.individual_id IS NULL AND x.region = i.region AND x.region_coding IS NOT DISTINCT FROM "
            "i.region_coding)) AND list_contains(?, x.{column}))")

PLACES: tuple[Place, ...] = (
    _own("individuals", "sex", "individual", "i"),
    _own("individuals", "vital_status", "individual", "i"),
    *(_clinical("diseases", c) for c in ("code", "topography", "morphology", "icd10", "primary_site",
                                          "laterality", "stage", "grade")),
    _clinical("treatments", "type"),
    _clinical("treatments", "agent"),
    _clinical("measurements", "code"),
    _clinical("measurements", "value_code"),
    # an excluded feature is one the patient was found not to have
    _clinical("phenotypic_features", "code", " AND NOT coalesce(x.excluded, false)"),
    _clinical("phenotypic_features", "severity", " AND NOT coalesce(x.excluded, false)"),
    _clinical("outcomes", "endpoint"),
    Place("exposures", "code", "individual", _EXPOSED.format(column="code")),
    Place("exposures", "value_code", "individual", _EXPOSED.format(column="value_code")),
    *(_own("biosamples", c, "biosample", "b") for c in ("sampled_tissue", "sample_type", "histology",
                                                          "tumour_progression", "grade", "stage", "procedure")),
    _own("calls", "zygosity", "call", "c"),
    *(_own("variants", c, "variant", "v") for c in ("variant_class", "consequence", "gene")),
)
PLACE = {p.key: p for p in PLACES}

# Custom terms (``oncofed:<kind>:<value>``): text columns that are not codes, and which kinds
# of data an individual has.
CUSTOM_COLUMNS: dict[str, tuple[str, str, Level, str]] = {
    # kind → (table, column, level, description)
    "origin": ("calls", "origin", "call", "variant calls of {value} origin"),
    "tumour_normal": ("biosamples", "tumour_normal", "biosample", "{value} biosamples"),
}
HAS: dict[str, tuple[str, str]] = {
    # oncofed:has:<what> → (table, description)
    "biosamples": ("biosamples", "individuals with biosamples"),
    "variants": ("calls", "individuals with variant calls"),
    "imaging": ("imaging_studies", "individuals with imaging studies"),
    "treatments": ("treatments", "individuals with recorded treatments"),
}


@dataclass(frozen=True)
class Holding:
    dataset: str
    kind: str  # a place key, "custom:<kind>", "has", "measurement" (numeric values) or "marker"
    value: str


@dataclass
class TermIndex:
    holdings: list[Holding]
    labels: dict[str, str]  # labels the sources gave (the store's ``terms`` table)
    _where: dict[str, dict[str, set[str]]] = field(init=False)  # code → place key → datasets

    def __post_init__(self) -> None:
        self._where = defaultdict(lambda: defaultdict(set))
        for h in self.holdings:
            if h.kind in PLACE:
                self._where[h.value][h.kind].add(h.dataset)

    def places(self, code: str) -> dict[str, set[str]]:
        """Place key → the datasets where this exact code is stored there."""
        return self._where.get(code, {})

    def codes(self) -> set[str]:
        return set(self._where)

    def label(self, code: str) -> str | None:
        return self.labels.get(code) or vocabulary.label(code)

    def below(self, code: str) -> set[str]:
        """The stored codes at or below a code: its descendants in the vocabulary, and for the
        systems whose codes nest by prefix (ATC, ICD-10), the longer codes it begins."""
        found = vocabulary.descendants(code) & self.codes() | ({code} & self.codes())
        if curie.prefix(code) in ("ATC", "ICD10"):
            found |= {c for c in self.codes() if c.startswith(code)}
        return found

    def of(self, kind: str, datasets: set[str] | None = None) -> set[str]:
        return {h.value for h in self.holdings if h.kind == kind and (datasets is None or h.dataset in datasets)}


def _holdings_sql() -> str:
    parts = [f"SELECT DISTINCT dataset_id, '{p.key}', {p.column} FROM {p.table} WHERE {p.column} IS NOT NULL"
             for p in PLACES]
    parts += [f"SELECT DISTINCT dataset_id, 'custom:{kind}', {column} FROM {table} WHERE {column} IS NOT NULL"
              for kind, (table, column, _, _) in CUSTOM_COLUMNS.items()]
    parts += [f"SELECT DISTINCT dataset_id, 'has', '{what}' FROM {table}" for what, (table, _) in HAS.items()]
    parts.append("SELECT DISTINCT dataset_id, 'measurement', code FROM measurements WHERE value IS NOT NULL")
    parts.append("SELECT DISTINCT dataset_id, 'marker', code FROM measurements "
                 "WHERE coalesce(value_code, value_label) IS NOT NULL")
    return " UNION ALL ".join(parts)


def index(con: duckdb.DuckDBPyConnection, content: tuple) -> TermIndex:
    """The store's term index, read once per store content (``content`` names it: each
    dataset's current content hash)."""
    return cache.cached(("beacon-terms", content), lambda: _read(con))


def _read(con: duckdb.DuckDBPyConnection) -> TermIndex:
    rows = con.execute(_holdings_sql()).fetchall()
    holdings = [Holding(d, k, v) for d, k, v in rows
                if not (k in PLACE and not curie.is_curie(v))]  # genes may be symbols, not codes
    labels = dict(con.execute("SELECT id, label FROM terms").fetchall())
    return TermIndex(holdings, labels)


SCOPE = {"individual": "individual", "biosample": "biosample", "call": "genomicVariation",
         "variant": "genomicVariation"}


def filtering_terms(terms: TermIndex, datasets: set[str] | None = None) -> list[dict]:
    """What a filter can name in these datasets (all when None): the stored codes with their
    labels and the entry types they describe, the alphanumeric fields, the custom terms."""
    out = []
    scopes: dict[str, set[str]] = defaultdict(set)
    for h in terms.holdings:
        if h.kind in PLACE and (datasets is None or h.dataset in datasets):
            scopes[h.value].add(SCOPE[PLACE[h.kind].level])
    for code in sorted(scopes):
        out.append(_term(code, curie.prefix(code), terms.label(code), scopes[code]))
    individual = {"individual"}
    for var in variables.FIXED.values():
        out.append(_term(var.name, "alphanumeric", var.description, individual))
    for family in ("measurement", "marker"):
        for code in sorted(terms.of(family, datasets)):
            var = variables.resolve(f"{family}:{code}")
            label = terms.label(code)
            out.append(_term(var.name, "alphanumeric", var.description + (f" ({label})" if label else ""), individual))
    for endpoint in sorted(terms.of(PLACE["outcomes.endpoint"].key, datasets)):
        for family in ("days", "event"):
            var = variables.resolve(f"{family}:{endpoint}")
            out.append(_term(var.name, "alphanumeric", var.description, individual))
    for what in sorted(terms.of("has", datasets)):
        out.append(_term(f"oncofed:has:{what}", "custom", HAS[what][1], individual))
    for kind, (_, _, level, description) in CUSTOM_COLUMNS.items():
        for value in sorted(terms.of(f"custom:{kind}", datasets)):
            out.append(_term(f"oncofed:{kind}:{value}", "custom", description.format(value=value), {SCOPE[level]}))
    return out


def _term(id: str, type: str, label: str | None, scopes: set[str]) -> dict:
    term = {"id": id, "type": type, "scopes": sorted(scopes)}
    if label:
        term["label"] = label
    return term
