"""The analysis variables: one value per individual, each defined as SQL over the node store.

A variable is a scalar SQL expression over one row ``i`` of ``individuals`` (correlated
subqueries reach the other tables), so one definition serves both a cohort's filters and the
frames analyses read. Where an individual has several rows (diseases, measurements), the
*first* is taken: the earliest by age, then by value, so every node resolves ties alike.
Codes a user supplies (``measurement:LOINC:21893-3``) become bound parameters, never SQL text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oncofed.analysis.base import AnalysisError
from oncofed.model import vocabulary

NUMERIC, CATEGORICAL = "numeric", "categorical"

OVERALL_SURVIVAL = "NCIT:C125201"
DEAD, ALIVE = "NCIT:C28554", "NCIT:C37987"


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str  # NUMERIC (a DOUBLE) or CATEGORICAL (a VARCHAR, usually a CURIE)
    sql: str  # scalar expression over the individuals row ``i``; ``?`` placeholders
    params: tuple = ()
    description: str = ""

    @property
    def categorical(self) -> bool:
        return self.kind == CATEGORICAL


def _numeric(name: str, sql: str, params: tuple = (), description: str = "") -> Variable:
    return Variable(name, NUMERIC, f"CAST(({sql}) AS DOUBLE)", params, description)


def _first(table: str, value: str, order: str, where: str = "") -> str:
    """The value on an individual's first row of a per-individual table (alias ``x``)."""
    return (f"(SELECT first({value} ORDER BY {order}) FROM {table} x "
            f"WHERE x.dataset_id = i.dataset_id AND x.individual_id = i.id{where})")


def _disease(column: str) -> str:
    return _first("diseases", f"x.{column}", "x.age_at_diagnosis NULLS LAST, x.diagnosis_year NULLS LAST, x.code")


def _imaged(value: str) -> str:
    """A column of the individual's row in ``imaging_summaries`` (NULL if never imaged): one
    row per patient to join, where the imaging tables hold a million series."""
    return (f"(SELECT {value} FROM imaging_summaries x "
            f"WHERE x.dataset_id = i.dataset_id AND x.individual_id = i.id)")


def _outcome(value: str) -> str:
    return _first("outcomes", value, "x.days, x.event DESC", " AND x.endpoint = ?")


_FIXED = [
    _numeric("age", _disease("age_at_diagnosis"), description="age at diagnosis of the first disease (years)"),
    Variable("sex", CATEGORICAL, "i.sex", description="sex (NCIT CURIE)"),
    Variable("country", CATEGORICAL, "i.country", description="country (ISO 3166-1 alpha-2)"),
    Variable("region", CATEGORICAL, "i.region", description="region code (NUTS or local)"),
    Variable("dataset", CATEGORICAL, "i.dataset_id", description="dataset id"),
    Variable("vital_status", CATEGORICAL, "i.vital_status", description="vital status (NCIT CURIE)"),
    _numeric("year_of_birth", "i.year_of_birth", description="year of birth"),
    _numeric("followup_days", "i.followup_days", description="follow-up time (days)"),
    Variable("diagnosis", CATEGORICAL, _disease("code"), description="code of the first disease"),
    Variable("stage", CATEGORICAL, _disease("stage"), description="stage of the first disease"),
    Variable("grade", CATEGORICAL, _disease("grade"), description="grade of the first disease"),
    _numeric("diagnosis_year", _disease("diagnosis_year"), description="year of the first diagnosis"),
    # Overall survival: the recorded endpoint where there is one, else follow-up and vital status.
    _numeric("imaging_age", _imaged("x.first_age"), description="age at the first imaging study (years)"),
    _numeric("imaging_series", f"coalesce({_imaged('x.series')}, 0)", description="number of imaging series"),
    _numeric(
        "os_days",
        f"coalesce({_outcome('x.days')}, CASE WHEN i.vital_status IN (?, ?) THEN i.followup_days END)",
        (OVERALL_SURVIVAL, DEAD, ALIVE),
        "overall survival time (days): the NCIT:C125201 outcome, else follow-up",
    ),
    _numeric(
        "os_event",
        f"coalesce({_outcome('CAST(x.event AS INTEGER)')}, "
        "CASE WHEN i.followup_days IS NOT NULL THEN CASE i.vital_status WHEN ? THEN 1 WHEN ? THEN 0 END END)",
        (OVERALL_SURVIVAL, DEAD, ALIVE),
        "overall survival event (1 dead): the NCIT:C125201 outcome, else vital status",
    ),
]
FIXED: dict[str, Variable] = {v.name: v for v in _FIXED}


def _days(name: str, endpoint: str) -> Variable:
    return _numeric(name, _outcome("x.days"), (endpoint,), f"days to the {endpoint} outcome")


def _event(name: str, endpoint: str) -> Variable:
    return _numeric(name, _outcome("CAST(x.event AS INTEGER)"), (endpoint,), f"1 if the {endpoint} outcome is an event")


def _treated(name: str, code: str) -> Variable:
    """1 if any treatment's type or agent is the code or below it (ATC codes nest by prefix)."""
    codes = sorted(vocabulary.descendants(code))
    match, params = "list_contains(?, x.type) OR list_contains(?, x.agent)", [codes, codes]
    if code.startswith("ATC:"):
        match += " OR starts_with(x.agent, ?)"
        params.append(code)
    sql = (f"CASE WHEN EXISTS (SELECT 1 FROM treatments x WHERE x.dataset_id = i.dataset_id "
           f"AND x.individual_id = i.id AND ({match})) THEN 1 ELSE 0 END")
    return _numeric(name, sql, tuple(params), f"1 if treated with {code} (type or agent), else 0")


def _measurement(name: str, code: str) -> Variable:
    sql = _first("measurements", "x.value", "x.age NULLS LAST, x.value", " AND x.code = ? AND x.value IS NOT NULL")
    return _numeric(name, sql, (code,), f"first numeric value of measurement {code}")


def _marker(name: str, code: str) -> Variable:
    coded = "coalesce(x.value_code, x.value_label)"
    sql = _first("measurements", coded, f"x.age NULLS LAST, {coded}", f" AND x.code = ? AND {coded} IS NOT NULL")
    return Variable(name, CATEGORICAL, sql, (code,), f"first coded value (or label) of measurement {code}")


def _imaging(name: str, modality: str) -> Variable:
    sql = f"CASE WHEN list_contains({_imaged('x.modalities')}, ?) THEN 1 ELSE 0 END"
    return _numeric(name, sql, (modality,), f"1 if the individual has an imaging series of modality {modality}, else 0")


def _exposure(name: str, code: str) -> Variable:
    """The individual's own exposure row where there is one, else the value for their region
    (region-level rows of this dataset first, then of the node's other datasets); the latest
    year first."""
    own = _first("exposures", "x.value", "x.year DESC NULLS LAST, x.value", " AND x.code = ? AND x.value IS NOT NULL")
    regional = ("(SELECT first(x.value ORDER BY x.dataset_id <> i.dataset_id, x.year DESC NULLS LAST, x.dataset_id) "
                "FROM exposures x WHERE x.individual_id IS NULL AND x.region = i.region "
                "AND x.region_coding = i.region_coding AND x.code = ? AND x.value IS NOT NULL)")
    return _numeric(name, f"coalesce({own}, {regional})", (code, code),
                    f"value of exposure {code}: the individual's own, else their region's")


def _variant(name: str, code: str) -> Variable:
    """Carriers: a variant id (``assembly:chromosome:position:ref:alt``) or a gene symbol (any
    stored variant of that gene), called in any of the individual's biosamples."""
    match = "v.id = ?" if code.count(":") == 4 else "upper(v.gene) = upper(?)"
    sql = ("CASE WHEN EXISTS (SELECT 1 FROM calls c JOIN variants v ON v.dataset_id = c.dataset_id "
           f"AND v.id = c.variant_id WHERE c.dataset_id = i.dataset_id AND c.individual_id = i.id AND {match}) "
           "THEN 1 ELSE 0 END")
    return _numeric(name, sql, (code,), f"1 if the individual carries {code}, else 0")


# family → (builder(name, code), what the family's variables are)
FAMILIES: dict[str, tuple[Callable[[str, str], Variable], str]] = {
    "days": (_days, "days:<endpoint CURIE> — days to that outcome"),
    "event": (_event, "event:<endpoint CURIE> — 1 if that outcome is an event, 0 if censored"),
    "treated": (_treated, "treated:<treatment type or ATC CURIE> — 1 if so treated, else 0"),
    "measurement": (_measurement, "measurement:<code> — first numeric value"),
    "marker": (_marker, "marker:<code> — first coded value"),
    "imaging": (_imaging, "imaging:<DICOM modality> — 1 if imaged in that modality (CT, MR …), else 0"),
    "exposure": (_exposure, "exposure:<code> — the individual's exposure value, else their region's"),
    "variant": (_variant, "variant:<gene symbol or assembly:chr:pos:ref:alt> — 1 if a carrier, else 0"),
}


def resolve(name: str) -> Variable:
    """The variable of that name, or an AnalysisError listing the known ones."""
    if name in FIXED:
        return FIXED[name]
    family, sep, code = name.partition(":")
    if sep and code and family in FAMILIES:
        return FAMILIES[family][0](name, code)
    raise AnalysisError(f"unknown variable {name!r}; known variables: {', '.join(known())}")


def known() -> list[str]:
    return [*FIXED, *(f"{family}:<code>" for family in FAMILIES)]


def catalogue() -> list[dict]:
    """The variables a researcher can use, for documentation and the API."""
    fixed = [{"name": v.name, "kind": v.kind, "description": v.description} for v in FIXED.values()]
    families = [{"name": f"{family}:<code>", "kind": builder(family, "X").kind, "description": text}
                for family, (builder, text) in FAMILIES.items()]
    return fixed + families
