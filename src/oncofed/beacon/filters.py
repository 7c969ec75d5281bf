"""Beacon filters as criteria on the node store (``beacon.selection``).

- **Ontology terms** (``{"id": "NCIT:C4872"}``) match every coded column that holds the term
  or, unless ``includeDescendantTerms`` is false, a term below it in the vocabulary (so a
  query on breast carcinoma finds a stored invasive lobular carcinoma); ATC and ICD-10 codes
  also nest by prefix. ``scope`` keeps to one entry type's own columns.
- **Alphanumeric filters** (``{"id": "age", "operator": "<", "value": "50"}``) compare an
  analysis variable (``analysis.variables``: ``age``, ``sex``, ``measurement:LOINC:21893-3``
  …), so "age" means here what it means in every federated analysis. Ages and durations may
  be ISO 8601 (``P50Y``); ``%`` or ``*`` in a text value is a wildcard (with ``=`` and ``!``).
  ``diseases.ageOfOnset`` and ``age_at_diagnosis`` are names for ``age``.
- **Custom filters**: ``oncofed:origin:<somatic|germline>`` (calls),
  ``oncofed:tumour_normal:<tumour|normal>`` (biosamples), ``oncofed:has:<biosamples|variants|
  imaging|treatments>`` (individuals with such data).

A term or field this Beacon does not know is a BeaconError naming it; ``/filtering_terms``
lists what it knows.
"""

from __future__ import annotations

from oncofed.analysis import variables
from oncofed.analysis.base import AnalysisError
from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import CUSTOM_PREFIX, AlphanumericFilter, CustomFilter, Filter, OntologyFilter
from oncofed.beacon.selection import Criterion, criterion
from oncofed.beacon.terms import CUSTOM_COLUMNS, HAS, PLACE, TermIndex
from oncofed.model import vocabulary

SEE_TERMS = "see /filtering_terms for the terms and fields this Beacon knows"
ALIASES = {"age_at_diagnosis": "age", "diseases.ageOfOnset": "age", "ageOfOnset": "age"}
# A filter's scope (an entry type, as Beacon names it) → the record levels it covers.
SCOPES = {
    **dict.fromkeys(("individual", "individuals"), {"individual"}),
    **dict.fromkeys(("biosample", "biosamples"), {"biosample"}),
    **dict.fromkeys(("genomicVariation", "genomicVariations", "genomicVariant", "genomicVariants",
                     "g_variant", "g_variants"), {"call", "variant"}),
}
_SQL_OPERATOR = {"=": "=", "!": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def criteria(filters: tuple[Filter, ...] | list[Filter], terms: TermIndex) -> list[Criterion]:
    """One criterion per filter (they combine with AND, as the specification says)."""
    out = []
    for f in filters:
        if isinstance(f, AlphanumericFilter):
            out.append(_alphanumeric(f))
        elif isinstance(f, CustomFilter):
            out.append(_custom(f))
        else:
            out.append(_ontology(f, terms))
    return out


def _levels(scope: str | None, name: str) -> set[str] | None:
    if scope is None:
        return None
    if scope not in SCOPES:
        raise BeaconError(f"filters[{name}].scope: unknown entry type {scope!r}; expected individual, "
                          "biosample or genomicVariation")
    return SCOPES[scope]


def _ontology(f: OntologyFilter, terms: TermIndex) -> Criterion:
    if f.id not in vocabulary.TERMS and f.id not in terms.codes():
        raise BeaconError(f"filters: unknown filter term {f.id!r}; {SEE_TERMS}")
    levels = _levels(f.scope, f.id)
    codes = terms.below(f.id) if f.includeDescendantTerms else {f.id} & terms.codes()
    by_place: dict[str, set[str]] = {}
    for code in codes:
        for key in terms.places(code):
            by_place.setdefault(key, set()).add(code)
    clauses = tuple(PLACE[key].clause(sorted(found)) for key, found in sorted(by_place.items())
                    if levels is None or PLACE[key].level in levels)
    return Criterion(clauses)


def _alphanumeric(f: AlphanumericFilter) -> Criterion:
    name = ALIASES.get(f.id, f.id)
    levels = _levels(f.scope, f.id)
    if levels is not None and levels != {"individual"}:
        raise BeaconError(f"filters[{f.id}].scope: alphanumeric fields describe individuals; "
                          f"scope {f.scope!r} has none")
    try:
        var = variables.resolve(name)
    except AnalysisError:
        raise BeaconError(f"filters: unknown filter field {f.id!r}; {SEE_TERMS}") from None
    value = f.value
    if var.categorical:
        text = str(value)
        if "%" in text or "*" in text:
            if f.operator not in ("=", "!", "!="):
                raise BeaconError(f"filters[{f.id}].value: a wildcard needs operator = or !")
            negate = "NOT " if f.operator != "=" else ""
            return criterion("individual", f"({var.sql}) {negate}LIKE ?", *var.params, text.replace("*", "%"))
        if f.operator not in ("=", "!", "!="):
            raise BeaconError(f"filters[{f.id}].operator: {f.id} is text or a code; use = or !")
        return criterion("individual", f"({var.sql}) {_SQL_OPERATOR[f.operator]} ?", *var.params, text)
    return criterion("individual", f"({var.sql}) {_SQL_OPERATOR[f.operator]} ?", *var.params,
                     _number(f, name, value))


def _number(f: AlphanumericFilter, name: str, value: str | int | float) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        pass
    from oncofed.ingest.phenopacket import DAYS_PER_YEAR, years_of  # one reading of ISO 8601 durations

    years = years_of(value)
    if years is not None:
        if name.startswith("age"):
            return years
        if name.endswith("_days") or name.startswith("days:"):
            return years * DAYS_PER_YEAR
    raise BeaconError(f"filters[{f.id}].value: expected a number"
                      + (" or an ISO 8601 duration such as P50Y" if name.startswith("age") or "days" in name else "")
                      + f", got {value!r}")


def _custom(f: CustomFilter) -> Criterion:
    kind, _, value = f.id.removeprefix(CUSTOM_PREFIX).partition(":")
    if kind == "has" and value in HAS:
        table = HAS[value][0]
        return criterion("individual", f"EXISTS (SELECT 1 FROM {table} x WHERE x.dataset_id = i.dataset_id "
                                       "AND x.individual_id = i.id)")
    if kind in CUSTOM_COLUMNS and value:
        _, column, level, _ = CUSTOM_COLUMNS[kind]
        alias = {"call": "c", "biosample": "b"}[level]
        return criterion(level, f"{alias}.{column} = ?", value)
    raise BeaconError(f"filters: unknown custom filter {f.id!r}; {SEE_TERMS}")
