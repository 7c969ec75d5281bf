"""The cohort builder's criteria: from the portal's form (a query string, so a cohort is a
link) to the requests the hub's API takes, and back.

Clinical, imaging and exposure criteria are filters on the analysis variables
(``analysis.variables``): the cohort every federated analysis takes, counted per node by the
``count`` analysis. Variant criteria (a gene, or a position and alleles) are Beacon request
parameters: they are counted through the hub's Beacon network, one node at a time, with the
other criteria as Beacon filters where Beacon can say them. Analyses run on the filters only,
as the analysis cohort has no variant criteria.

Form fields: ``dataset`` and ``node`` (repeated), ``v`` / ``op`` / ``val`` (one triple per
criterion, in order), ``gene``, ``assembly``, ``chrom``, ``pos`` (1-based, as VCF counts),
``ref``, ``alt``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from oncofed.analysis import variables
from oncofed.analysis.base import AnalysisError
from oncofed.model import vocabulary

# A count withheld by no one node (a total, a summary's n), whose bounds the portal cannot give.
WITHHELD = "withheld"

OPS = {"=": "is", "!=": "is not", "<": "<", "<=": "≤", ">": ">", ">=": "≥", "in": "is one of",
       "not_in": "is none of", "descendant_of": "is or is below", "is_null": "is missing", "not_null": "is known"}
NO_VALUE = {"is_null", "not_null"}
LISTED = {"in", "not_in"}
BEACON_OPS = {"=", "!=", "<", "<=", ">", ">="}
VARIANT_FIELDS = ("gene", "assembly", "chrom", "pos", "ref", "alt")

# What the variable box suggests (any family:code may be typed): the fixed variables, and
# family members the demo cohorts hold.
SUGGESTED_FAMILY = (
    ("imaging:CT", "imaging"), ("imaging:MR", "imaging"), ("imaging:PT", "imaging"),
    ("treated:NCIT:C15632", "treatment"), ("treated:NCIT:C15445", "treatment"),
    ("measurement:LOINC:21893-3", "clinical"), ("measurement:LOINC:21889-1", "clinical"),
    ("exposure:ONCOFED:townsend_score", "exposure"),
)
SUGGESTED_CODES = ("NCIT:C16576", "NCIT:C20197", "NCIT:C28554", "NCIT:C37987", "NCIT:C4872", "NCIT:C4878",
                   "NCIT:C2955", "NCIT:C3171")


@dataclass(frozen=True)
class Criterion:
    variable: str
    op: str
    value: str  # as typed

    @property
    def shown(self) -> str:
        op = OPS.get(self.op, self.op)  # a form may carry a comparison the builder does not offer
        if self.op in NO_VALUE:
            return f"{self.variable} {op}"
        return f"{self.variable} {op} {_label_values(self.value)}"


@dataclass
class Criteria:
    datasets: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    criteria: list[Criterion] = field(default_factory=list)
    variant: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def filters(self) -> list[dict]:
        """The analysis cohort's filters (criteria with errors are left out and reported)."""
        out = []
        for c in self.criteria:
            try:
                out.append(_filter(c))
            except AnalysisError:
                continue
        return out

    def cohort(self) -> dict:
        return {"datasets": self.datasets or None, "filters": self.filters}

    def count_request(self) -> dict:
        """The body of ``POST /api/analyses`` that counts this cohort at every node."""
        return {"analysis": "count", "cohort": self.cohort(), "nodes": self.nodes or None}

    def beacon_request(self, datasets: list[str]) -> dict:
        """A Beacon request body for the variant criteria and the criteria Beacon can say, at
        ``datasets`` (``node:dataset`` each: the hub sends it to those nodes only)."""
        parameters: dict = {"datasets": {"datasetIds": datasets}}
        g = self.variant
        if g.get("gene"):
            parameters["g_variant"] = {"geneId": g["gene"]}
        else:
            v = {"referenceName": g.get("chrom"), "start": [int(g["pos"]) - 1]}
            if g.get("assembly"):
                v["assemblyId"] = g["assembly"]
            if g.get("ref"):
                v["referenceBases"] = g["ref"].upper()
            if g.get("alt"):
                v["alternateBases"] = g["alt"].upper()
            parameters["g_variant"] = v
        filters = []
        for c in self.criteria:
            f = _filter(c)
            if f["op"] == "descendant_of":
                filters.append({"id": f["value"], "includeDescendantTerms": True})
            else:
                filters.append({"id": f["variable"], "operator": f["op"], "value": f["value"]})
        return {"meta": {"apiVersion": "v2.1.1"},
                "query": {"requestParameters": parameters, "filters": filters, "requestedGranularity": "count"}}

    @property
    def has_variant(self) -> bool:
        return any(self.variant.get(k) for k in VARIANT_FIELDS)

    def query(self) -> str:
        """The criteria as the portal's query string: the cohort as a link."""
        pairs = [("dataset", d) for d in self.datasets] + [("node", n) for n in self.nodes]
        for c in self.criteria:
            pairs += [("v", c.variable), ("op", c.op), ("val", c.value)]
        pairs += [(k, self.variant[k]) for k in VARIANT_FIELDS if self.variant.get(k)]
        return urlencode(pairs)


def parse(pairs: Iterable[tuple[str, str]]) -> Criteria:
    """The criteria of a submitted form; a criterion that cannot run is kept (so the form
    shows it) and named in ``errors``."""
    pairs = list(pairs)
    got = Criteria(datasets=_unique(v for k, v in pairs if k == "dataset" and v),
                   nodes=_unique(v for k, v in pairs if k == "node" and v))
    names = [v.strip() for k, v in pairs if k == "v"]
    ops = [v for k, v in pairs if k == "op"]
    values = [v.strip() for k, v in pairs if k == "val"]
    for i, name in enumerate(names):
        if not name:
            continue
        c = Criterion(name, ops[i] if i < len(ops) else "=", values[i] if i < len(values) else "")
        got.criteria.append(c)
        try:
            _filter(c)
        except AnalysisError as e:
            got.errors.append(str(e))
    got.variant = {k: v.strip() for k, v in pairs if k in VARIANT_FIELDS and v.strip()}
    if got.has_variant:
        got.errors += _variant_errors(got)
    return got


def _filter(c: Criterion) -> dict:
    if c.op not in OPS:
        raise AnalysisError(f"{c.variable}: unknown comparison {c.op!r}")
    var = variables.resolve(c.variable)
    if c.op in NO_VALUE:
        return {"variable": c.variable, "op": c.op}
    if not c.value:
        raise AnalysisError(f"{c.variable} {OPS[c.op]}: give a value")
    if c.op in LISTED:
        value: object = [_value(var, c, part.strip()) for part in c.value.split(",") if part.strip()]
    else:
        value = _value(var, c, c.value)
    return {"variable": c.variable, "op": c.op, "value": value}


def _value(var: variables.Variable, c: Criterion, text: str) -> object:
    if var.categorical:
        return text
    try:
        number = float(text)
    except ValueError:
        raise AnalysisError(f"{c.variable} {OPS[c.op]} {text!r}: {c.variable} is a number") from None
    return int(number) if number.is_integer() else number


def _variant_errors(got: Criteria) -> list[str]:
    g, errors = got.variant, []
    if not g.get("gene"):
        if not g.get("chrom") or not g.get("pos"):
            errors.append("variant: give a gene, or a chromosome and a position")
        elif not g["pos"].isdigit() or int(g["pos"]) < 1:
            errors.append(f"variant position {g['pos']!r}: a whole number from 1 (as VCF counts)")
    for c in got.criteria:
        if c.op not in BEACON_OPS | {"descendant_of"}:
            errors.append(f"{c.shown}: the Beacon network cannot combine this with variant criteria "
                          f"(use {', '.join(sorted(BEACON_OPS))} or 'is or is below')")
    return errors


def _label_values(text: str) -> str:
    parts = [p.strip() for p in text.split(",")]
    return ", ".join(f"{vocabulary.label(p)} ({p})" if vocabulary.label(p) else p for p in parts)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def suggestions() -> tuple[list[dict], list[dict]]:
    """(variables, codes) the form offers: name and what it is."""
    listed = [{"name": v["name"], "kind": v["kind"], "description": v["description"]}
              for v in variables.catalogue() if ":<" not in v["name"]]
    listed += [{"name": name, "kind": variables.resolve(name).kind, "description": variables.resolve(name).description}
               for name, _ in SUGGESTED_FAMILY]
    codes = [{"code": c, "label": vocabulary.label(c) or c} for c in SUGGESTED_CODES]
    return listed, codes


def withheld_count(min_cell: int | None) -> str:
    """A count one node withheld: below the minimum cell its answer states (nodes may set
    their own), never its value."""
    return f"< {min_cell}" if min_cell else WITHHELD


def withheld_total(released: int, min_cells: list[int | None]) -> str:
    """A total some nodes withheld their part of: the released parts plus, from each of those
    nodes, a part from 1 to its minimum cell - 1; shown as the bounds that follow, no tighter."""
    if released == 0 and len(min_cells) == 1:
        return withheld_count(min_cells[0])
    low = released + len(min_cells)
    if None in min_cells:
        return f"at least {low:,}"
    return f"{low:,}–{released + sum(k - 1 for k in min_cells):,}"


def count_total(result: dict, per_node: dict) -> str:
    """A count run's total as shown: the sum, or, when nodes withheld their part, the bounds
    the released parts give (``withheld_total``)."""
    if result.get("count") is not None:
        return f"{result['count']:,}"
    return withheld_total(result["at_least"], [per_node.get(n, {}).get("min_cell") for n in result["suppressed"]])


def shown_count(n: int | None, status: str, min_cell: int | None = None) -> str:
    """A node's count as the portal shows it: never a withheld count's value."""
    if status != "ok":
        return "–"
    return withheld_count(min_cell) if n is None else f"{n:,}"
