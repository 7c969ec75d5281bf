"""FHIR R4 reader: Bundles, single-resource JSON files and Bulk Data NDJSON.

Maps onto the harmonised model (mCODE profiles recognised, plain FHIR accepted):
- Patient → individuals (and an overall-survival outcome when death and diagnosis dates are
  known);
- Condition → diseases, with stage and T/N/M categories taken from the staging Observations
  linked to it (Condition.stage.assessment, Observation.focus, the stage group's hasMember);
- Observation → measurements (tumour markers, labs, disease status, performance status, and
  the staging Observations as well);
- Procedure, MedicationStatement / MedicationRequest / MedicationAdministration → treatments;
- Specimen → biosamples.

Medication is read only to name the agent of a resource that refers to it. Every other
resource type (Practitioner, Organization, Encounter ...) is validated, then skipped; the reader
reports what it skipped, and why, through ``ctx.progress(description=...)``.

Privacy: Patient and Specimen ids become pseudonyms; dates become ages in years (to 0.01 year)
from the patient's birthDate; no identifier, name, address, full date or free text is kept.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pycountry
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from oncofed.errors import IngestError
from oncofed.ingest.batch import Batch, RowBuilder, SourceFile
from oncofed.ingest.reader import IngestContext, expand
from oncofed.model import curie, treatments, vocabulary

SUFFIXES = (".json", ".ndjson")

# Code systems by canonical URL → CURIE prefix.
_SYSTEMS = {
    "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl": "NCIT",
    "http://terminology.hl7.org/CodeSystem/icd-o-3": "ICDO3",
    "urn:oid:2.16.840.1.113883.6.43.1": "ICDO3",
    "http://snomed.info/sct": "SNOMEDCT",
    "http://hl7.org/fhir/sid/icd-10": "ICD10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD10",
    "http://fhir.de/CodeSystem/bfarm/icd-10-gm": "ICD10",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RXNORM",
    "http://www.whocc.no/atc": "ATC",
    "http://fhir.de/CodeSystem/bfarm/atc": "ATC",
    "http://cancerstaging.org": "AJCC",
    "http://unitsofmeasure.org": "UCUM",
}
# Which coding of a CodeableConcept becomes its code; the first prefix listed wins.
_PREFER = ("NCIT", "ICDO3", "SNOMEDCT", "ICD10", "LOINC", "ATC", "RXNORM", "AJCC")
_PREFER_LAB = ("LOINC", *(p for p in _PREFER if p != "LOINC"))  # the model's lab vocabulary
_PREFER_DRUG = ("ATC", "RXNORM", *(p for p in _PREFER if p not in ("ATC", "RXNORM")))

_TOPOGRAPHY = re.compile(r"C\d\d(\.\d)?")  # ICD-O-3 topography, e.g. C34.1
_MORPHOLOGY = re.compile(r"\d{4}/\d")  # ICD-O-3 morphology/behaviour, e.g. 8140/3

_SEX = {"female": ("NCIT:C16576", "Female"), "male": ("NCIT:C20197", "Male"),
        "other": ("NCIT:C17998", "Unknown"), "unknown": ("NCIT:C17998", "Unknown")}
_DEAD, _ALIVE = ("NCIT:C28554", "Dead"), ("NCIT:C37987", "Alive")
_OVERALL_SURVIVAL = ("NCIT:C125201", "Overall Survival")

# The codes and labels of model/vocab/terms.tsv, so that every reader types treatments alike.
_SURGERY, _RADIOTHERAPY, _CHEMOTHERAPY, _HORMONE, _TARGETED, _IMMUNO = (
    (code, vocabulary.label(code)) for code in (
        treatments.SURGERY, treatments.RADIOTHERAPY, treatments.CHEMOTHERAPY, treatments.HORMONE_THERAPY,
        treatments.TARGETED_THERAPY, treatments.IMMUNOTHERAPY))

_RADIATION_CODES = {
    "SNOMEDCT:108290001",  # Radiation oncology AND/OR radiotherapy
    "SNOMEDCT:53438000",  # Radiation therapy procedure or service (mCODE STU2 category)
    "SNOMEDCT:1217123003",  # Radiotherapy course of treatment (mCODE STU3+ code)
}
_RADIATION_WORDS = re.compile(r"radiat|radiother|brachyther", re.I)
_NOT_TREATMENT = {"SNOMEDCT:103693007", "SNOMEDCT:363679005"}  # diagnostic procedure, imaging
# A drug's kind from the words of its category or profile, else from its ATC class.
_DRUG_WORDS = ((re.compile(r"hormon|endocrin", re.I), _HORMONE),
               (re.compile(r"immuno", re.I), _IMMUNO),
               (re.compile(r"targeted", re.I), _TARGETED),
               (re.compile(r"chemo", re.I), _CHEMOTHERAPY))

# Staging Observations by code: (kind, basis). LOINC and SNOMED CT as mCODE lists them.
_STAGING_CODES = {
    "LOINC:21908-9": ("stage", "clinical"), "LOINC:21902-2": ("stage", "pathological"),
    "LOINC:21914-7": ("stage", None),
    "LOINC:21905-5": ("t", "clinical"), "LOINC:21899-0": ("t", "pathological"),
    "LOINC:21906-3": ("n", "clinical"), "LOINC:21900-6": ("n", "pathological"),
    "LOINC:21907-1": ("m", "clinical"), "LOINC:21901-4": ("m", "pathological"),
    "SNOMEDCT:399537006": ("stage", "clinical"), "SNOMEDCT:399588009": ("stage", "pathological"),
    "SNOMEDCT:399390009": ("stage", None),
    "SNOMEDCT:399504009": ("t", "clinical"), "SNOMEDCT:384625004": ("t", "pathological"),
    "SNOMEDCT:78873005": ("t", None),
    "SNOMEDCT:399534004": ("n", "clinical"), "SNOMEDCT:371494008": ("n", "pathological"),
    "SNOMEDCT:277206009": ("n", None),
    "SNOMEDCT:399387003": ("m", "clinical"), "SNOMEDCT:371497001": ("m", "pathological"),
    "SNOMEDCT:277208005": ("m", None),
}
# mCODE profile names (STU1 adds clinical/pathological to each) for sources with local codes.
_STAGING_PROFILES = (("stage-group", "stage"), ("primary-tumor-category", "t"),
                     ("regional-nodes-category", "n"), ("distant-metastases-category", "m"))
# AJCC editions (SNOMED CT, as mCODE's staging-method value set lists them) → the vocabulary's
# NCIt terms, so that the staging system compares across sources.
_STAGE_SYSTEMS = {"SNOMEDCT:444256004": "NCIT:C90529", "SNOMEDCT:443830009": "NCIT:C90530",
                  "SNOMEDCT:897275008": "NCIT:C132248"}
_BASIS_RANK = {"pathological": 2, "clinical": 1, None: 0}  # pathological staging is the more definitive
_CATEGORY_COLUMN = {"t": "t_category", "n": "n_category", "m": "m_category"}

_CANCER_WORDS = re.compile(
    r"malignan|carcinom|cancer|sarcom|lymphom|leuk[a]?emi|melanom|myelom|blastom|glioma", re.I)
_VOID = {"entered-in-error", "not-done", "not-taken", "cancelled", "refuted"}
_LITERAL = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_AGE_UNITS = {"a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25}


def read(files: list[Path], ctx: IngestContext) -> Batch:
    """Read FHIR JSON / NDJSON files (or folders of them) into one batch, all or nothing."""
    paths = expand(files, SUFFIXES)
    resources: list[_Resource] = []
    for path in paths:
        resources.extend(_read_file(path))
        ctx.progress(advance=1, total=len(paths))
    mapper = _Mapper(_Graph(resources), ctx)
    mapper.run()
    if mapper.skipped:
        ctx.progress(description="FHIR resources skipped: " + ", ".join(
            f"{kind} ×{n}" for kind, n in sorted(mapper.skipped.items())))
    return mapper.rows.build([SourceFile.of(p) for p in paths])


# --- reading and validating -------------------------------------------------------------

@dataclass(frozen=True, eq=False)  # identity semantics: resources are graph nodes
class _Resource:
    """One validated resource and where it was read, so that errors can point at it."""

    data: dict
    file: str
    line: int | None = None  # NDJSON line
    entry: int | None = None  # Bundle.entry index
    full_url: str | None = None

    @property
    def type(self) -> str:
        return str(self.data.get("resourceType"))

    @property
    def key(self) -> str | None:
        rid = self.data.get("id")
        return f"{self.type}/{rid}" if isinstance(rid, str) else None

    @property
    def record(self) -> str:
        name = self.key or self.full_url or self.type
        return name if self.entry is None else f"{name} (entry {self.entry})"

    def error(self, message: str, **where) -> IngestError:
        return IngestError(message, file=self.file, line=self.line, record=self.record, **where)


def _read_file(path: Path) -> list[_Resource]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(f"not UTF-8 text (byte {e.start})", file=file,
                          expected="FHIR JSON in UTF-8") from None
    if path.suffix.lower() == ".ndjson":
        return [res for n, line in enumerate(text.splitlines(), 1) if line.strip()
                for res in _unpack(_parse(line, file, n), file, n)]
    return _unpack(_parse(text, file, None), file, None)


def _parse(text: str, file: str, line: int | None) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise IngestError(f"not valid JSON: {e.msg} (column {e.colno})", file=file,
                          line=line or e.lineno, expected="a FHIR resource or Bundle in JSON") from None


def _unpack(obj: object, file: str, line: int | None) -> list[_Resource]:
    """The resources of a Bundle (each validated on its own, so errors name the entry), or the
    one resource."""
    if not isinstance(obj, dict):
        raise IngestError("not a FHIR resource", file=file, line=line,
                          expected="a JSON object with a resourceType", got=type(obj).__name__)
    if obj.get("resourceType") != "Bundle":
        return [_validated(_Resource(obj, file, line))]
    entries = obj.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise IngestError("bad Bundle", file=file, line=line, record=f"Bundle/{obj.get('id')}",
                          field="entry", expected="a list of entry objects")
    shell = {**obj, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries]}
    _validated(_Resource(shell, file, line))
    found = []
    for i, e in enumerate(entries):
        data = e.get("resource")
        if data is None:  # e.g. a DELETE in a transaction
            continue
        if not isinstance(data, dict):
            raise IngestError("not a FHIR resource", file=file, line=line, record=f"entry {i}",
                              field="resource", expected="a JSON object with a resourceType")
        found.append(_validated(_Resource(data, file, line, i, e.get("fullUrl"))))
    return found


def _validated(res: _Resource) -> _Resource:
    rtype = res.data.get("resourceType")
    try:
        model = get_fhir_model_class(rtype) if isinstance(rtype, str) else None
    except ValueError:
        model = None
    if model is None:
        raise res.error("missing resourceType" if rtype is None else "unknown resourceType",
                        field="resourceType", expected="an R4 resource type such as Patient",
                        got=rtype)
    try:
        model.model_validate(res.data)
    except ValidationError as e:
        problems = e.errors()
        first, more = problems[0], len(problems) - 1
        also = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise res.error(f"not a valid FHIR R4 {rtype}{also}", field=_path(first["loc"]),
                        expected=_expected(first), got=_shown(first)) from None
    return res


def _path(loc: tuple) -> str | None:
    """A pydantic error location as a FHIR element path: ``stage[0].summary``."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return text or None


def _expected(problem: dict) -> str:
    if problem["type"] == "missing":
        return "a value (required in FHIR R4)"
    if problem["type"] == "extra_forbidden":
        return "only elements FHIR R4 defines"
    return problem["msg"].removeprefix("Value error, ").removeprefix("Input should be ").rstrip(".")


def _shown(problem: dict) -> object:
    value = problem.get("input")
    if problem["type"] == "missing" or not isinstance(value, (str, int, float, bool)):
        return None
    return value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."


class _Graph:
    """Every resource of the ingest, found by the references other resources hold.

    A resource met twice (a bundle and a single-resource file, say) counts once; two
    different versions of it are an error, since the ingest could not say which one is meant.
    """

    def __init__(self, resources: list[_Resource]):
        self.resources: list[_Resource] = []
        self._by_key: dict[str, _Resource] = {}
        self._by_url: dict[str, _Resource] = {}
        for res in resources:
            seen = self._by_key.get(res.key) if res.key else None
            if seen is None:
                self.resources.append(res)
                seen = res
            elif _content(seen.data) != _content(res.data):
                raise res.error(f"differs from {seen.record} in {seen.file}",
                                expected="the same content wherever a resource appears twice")
            if res.key:
                self._by_key.setdefault(res.key, seen)
            if res.full_url:
                self._by_url.setdefault(res.full_url, seen)

    def of_type(self, rtype: str) -> list[_Resource]:
        return [r for r in self.resources if r.type == rtype]

    def get(self, reference: dict | None, holder: _Resource) -> _Resource | None:
        """The resource a Reference points to: contained (#id), by fullUrl, or Type/id."""
        target = (reference or {}).get("reference")
        if not target:
            return None
        if target.startswith("#"):
            return next((_Resource(c, holder.file, holder.line, holder.entry)
                         for c in holder.data.get("contained", []) if c.get("id") == target[1:]), None)
        if target in self._by_url:
            return self._by_url[target]
        m = _LITERAL.search(target)
        return self._by_key.get(f"{m[1]}/{m[2]}") if m else None


def _content(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "meta"}


# --- pure helpers -------------------------------------------------------------------------

def _codings(cc: dict | None) -> list[tuple[str, str | None]]:
    """The codings of a CodeableConcept in a known terminology, as (CURIE, display)."""
    found = []
    for c in (cc or {}).get("coding", []):
        prefix, code = _SYSTEMS.get(c.get("system")), c.get("code")
        if prefix and code and curie.is_curie(f"{prefix}:{code}"):
            found.append((f"{prefix}:{code}", c.get("display")))
    return found


def _primary(cc: dict | None, prefer: tuple[str, ...] = _PREFER) -> tuple[str | None, str | None]:
    """The coding that represents a CodeableConcept, as (CURIE, label)."""
    found, text = _codings(cc), (cc or {}).get("text")
    if not found:
        return None, text

    def rank(coding: tuple[str, str | None]) -> int:
        prefix = curie.prefix(coding[0])
        return prefer.index(prefix) if prefix in prefer else len(prefer)

    code, display = min(found, key=rank)
    return code, display or text


def _words(*ccs: dict | None) -> str:
    """The human-readable text of some CodeableConcepts, for keyword tests."""
    return " ".join(t for cc in ccs if cc for t in
                    [cc.get("text") or "", *(c.get("display") or "" for c in cc.get("coding", []))])


def _profiles(data: dict) -> str:
    return " ".join(data.get("meta", {}).get("profile", []))


def _extension(element: dict | None, *names: str) -> dict | None:
    """The CodeableConcept value of an extension whose URL ends with one of these names (mCODE
    renamed some between versions)."""
    for e in (element or {}).get("extension", []):
        if e.get("url", "").endswith(names):
            return e.get("valueCodeableConcept")
    return None


def _void(data: dict) -> str | None:
    """Why a resource states no fact about the patient (recorded in error, refuted, never
    done), or None."""
    verification = [c.get("code") for c in (data.get("verificationStatus") or {}).get("coding", [])]
    return next((s for s in [data.get("status"), *verification] if s in _VOID), None)


class _Day(NamedTuple):
    value: date
    exact: bool  # False when the source gave only a year or a month


def _day(text: str | None) -> _Day | None:
    """A FHIR date/dateTime as a day. A partial date is taken at the middle of the span it
    names, which halves the worst error of an age computed from it."""
    if not text:
        return None
    parts = [int(p) for p in text[:10].split("-")]
    if len(parts) == 1:
        return _Day(date(parts[0], 7, 2), False)
    if len(parts) == 2:
        return _Day(date(parts[0], parts[1], 15), False)
    return _Day(date(*parts), True)


def _years_between(birth: _Day | None, when: _Day | None) -> float | None:
    if birth is None or when is None:
        return None
    return (when.value - birth.value).days / 365.25


def _years_of(age: dict | None) -> float | None:
    """A FHIR Age (a UCUM quantity of time) in years."""
    factor = _AGE_UNITS.get((age or {}).get("code") or "")
    return age["value"] * factor if factor and age.get("value") is not None else None


def _unit(quantity: dict) -> str | None:
    """UCUM units as CURIEs; a unit in no declared system is kept as written."""
    if quantity.get("system") == "http://unitsofmeasure.org" and quantity.get("code"):
        return f"UCUM:{quantity['code']}"
    return quantity.get("unit")


def _country(addresses: list[dict]) -> str | None:
    for a in addresses:
        code = (a.get("country") or "").upper()
        if a.get("use") != "old" and len(code) == 2 and pycountry.countries.get(alpha_2=code):
            return code
    return None


def _staging_kind(obs: _Resource) -> tuple[str, str | None] | None:
    """("stage" | "t" | "n" | "m", basis) for a TNM staging Observation, else None."""
    for code, _ in _codings(obs.data.get("code")):
        if code in _STAGING_CODES:
            return _STAGING_CODES[code]
    for profile in obs.data.get("meta", {}).get("profile", []):
        for fragment, kind in _STAGING_PROFILES:
            if fragment in profile:
                basis = next((b for b in ("clinical", "pathological") if b in profile), None)
                return kind, basis
    return None


def _is_radiation(procedure: dict) -> bool:
    category, code = procedure.get("category"), procedure.get("code")
    return bool({c for c, _ in _codings(category) + _codings(code)} & _RADIATION_CODES) or bool(
        _RADIATION_WORDS.search(f"{_words(category, code)} {_profiles(procedure)}"))


def _drug_kind(data: dict, drug: dict | None) -> tuple[str, str] | None:
    """Hormone / targeted / immuno / chemotherapy, as the category or profile says, else as the
    ATC class says. None for a drug whose ATC code lies outside the cancer classes (L01-L03):
    an analgesic or an antiemetic is no cancer treatment."""
    categories = data.get("category")
    categories = categories if isinstance(categories, list) else [categories]
    text = f"{_words(*categories)} {_profiles(data)}"
    for pattern, kind in _DRUG_WORDS:
        if pattern.search(text):
            return kind
    atc = [c.removeprefix("ATC:") for c, _ in _codings(drug) if c.startswith("ATC:")]
    for code in atc:
        if kind := treatments.type_of_atc(code):
            return kind, vocabulary.label(kind)
    return None if atc else _CHEMOTHERAPY


def _is_cancer(condition: dict) -> bool:
    return bool(
        "cancer-condition" in _profiles(condition)
        or condition.get("stage")
        or _extension(condition, "histology-morphology-behavior")
        or any(c.startswith(("ICD10:C", "ICD10:D0", "ICDO3:"))
               for c, _ in _codings(condition.get("code")))
        or _CANCER_WORDS.search(_words(condition.get("code")))
    )


def _effective(data: dict, prefix: str) -> tuple[dict | str | None, str | None]:
    """Start and end of a [x] time element: a date string or an Age at the start, a date
    string or None at the end."""
    if period := data.get(prefix + "Period"):
        return period.get("start"), period.get("end")
    if age := data.get(prefix + "Age"):
        return age, None
    return data.get(prefix + "DateTime") or data.get(prefix + "Instant"), None


# --- mapping ------------------------------------------------------------------------------

class _Mapper:
    """Turns the resources of one ingest into rows, keeping the pseudonyms and ages of each
    patient consistent across all the files read."""

    def __init__(self, graph: _Graph, ctx: IngestContext):
        self.graph, self.ctx = graph, ctx
        self.rows = RowBuilder()
        self.skipped: Counter[str] = Counter()
        self.conditions: dict[_Resource, list[_Resource]] = defaultdict(list)  # by patient
        for c in graph.of_type("Condition"):
            patient = graph.get(c.data.get("subject"), c)
            if patient is not None and not _void(c.data):
                self.conditions[patient].append(c)
        self.staging = self._link_staging()

    def run(self) -> None:
        handlers = {
            "Patient": self.individual, "Condition": self.disease, "Observation": self.measurement,
            "Procedure": self.procedure, "MedicationStatement": self.medication,
            "MedicationRequest": self.medication, "MedicationAdministration": self.medication,
            "Specimen": self.biosample,
        }
        for res in self.graph.resources:
            handler = handlers.get(res.type)
            if handler is None:
                if res.type != "Medication":  # read through the resources that refer to it
                    self.skipped[res.type] += 1
            elif reason := _void(res.data):
                self.skipped[f"{res.type} ({reason})"] += 1
            else:
                handler(res)

    # shared pieces

    def add(self, table: str, row: dict, res: _Resource) -> None:
        self.rows.add(table, row, file=res.file, record=res.record, line=res.line)

    def coded(self, cc: dict | None, prefer: tuple[str, ...] = _PREFER) -> tuple[str | None, str | None]:
        code, label = _primary(cc, prefer)
        label = label or (vocabulary.label(code) if code else None)
        self.rows.term(code, label)
        return code, label

    def stage_system(self, method: dict | None) -> str | None:
        code = self.coded(method)[0]
        if code in _STAGE_SYSTEMS:
            code = _STAGE_SYSTEMS[code]
            self.rows.term(code, vocabulary.label(code))
        return code

    def also(self, ccs: list[dict | None], prefix: str, pattern: re.Pattern | None = None) -> str | None:
        """The first coding in one terminology (and local-code pattern), for secondary columns."""
        for cc in ccs:
            for code, display in _codings(cc):
                local = code.split(":", 1)[1]
                if curie.prefix(code) == prefix and (pattern is None or pattern.fullmatch(local)):
                    self.rows.term(code, display)
                    return code
        return None

    def constant(self, term: tuple[str, str]) -> str:
        self.rows.term(*term)
        return term[0]

    def patient(self, res: _Resource, field: str = "subject") -> _Resource | None:
        """The Patient a resource is about; None when it is about something else (a Group, a
        Device); an error when the Patient is not among the files read."""
        ref = res.data.get(field)
        if ref is None:
            raise res.error("has no subject", field=field, expected="a reference to a Patient")
        target = self.graph.get(ref, res)
        literal = ref.get("reference") or ""
        named = _LITERAL.search(literal)
        if target is None and (ref.get("type") or (named[1] if named else "Patient")) == "Patient":
            raise res.error(f"refers to {literal or 'a Patient by identifier only'}, which is not "
                            "in the files read", field=field, expected="a Patient in this ingest")
        if target is None or target.type != "Patient":
            self.skipped[f"{res.type} (not about a patient)"] += 1
            return None
        return target

    def person(self, patient: _Resource) -> str:
        return self.ctx.pseudonym(patient.data.get("id") or patient.full_url)

    def age(self, patient: _Resource, when: dict | str | None) -> float | None:
        if isinstance(when, dict):
            return _years_of(when)
        return _years_between(_day(patient.data.get("birthDate")), _day(when))

    def specimen_id(self, specimen: _Resource) -> str:
        rid = specimen.data.get("id") or specimen.full_url
        if not rid:
            raise specimen.error("Specimen has no id", field="id", expected="an id or a fullUrl")
        return self.ctx.pseudonym(rid, namespace=f"{self.ctx.dataset_id}/biosample")

    # one method per resource type

    def individual(self, res: _Resource) -> None:
        d = res.data
        if not (d.get("id") or res.full_url):
            raise res.error("Patient has no id", field="id", expected="an id or a fullUrl")
        birth = _day(d.get("birthDate"))
        sex = _SEX.get(d.get("gender"))
        dead = d.get("deceasedBoolean") or "deceasedDateTime" in d
        vital = _DEAD if dead else _ALIVE if d.get("deceasedBoolean") is False else None
        days = self.followup_days(res)
        self.add("individuals", {
            "id": self.person(res),
            "sex": self.constant(sex) if sex else None,
            "year_of_birth": birth.value.year if birth else None,
            "country": _country(d.get("address", [])) or self.ctx.country,
            "vital_status": self.constant(vital) if vital else None,
            "followup_days": days,
        }, res)
        if days is not None:  # as the Phenopacket reader records it, for survival analyses
            self.add("outcomes", {"individual_id": self.person(res), "days": days, "event": True,
                                  "endpoint": self.constant(_OVERALL_SURVIVAL)}, res)

    def followup_days(self, patient: _Resource) -> float | None:
        """Days from the first cancer diagnosis to death, when both are known to the day."""
        death = _day(patient.data.get("deceasedDateTime"))
        onsets = [_effective(c.data, "onset")[0] for c in self.conditions[patient] if _is_cancer(c.data)]
        exact = [day.value for o in onsets if isinstance(o, str) and (day := _day(o)).exact]
        if not (death and death.exact and exact):
            return None
        days = (death.value - min(exact)).days
        if days < 0:
            raise patient.error("died before the first cancer diagnosis", field="deceasedDateTime",
                                expected="a date on or after the Condition onset",
                                got=patient.data["deceasedDateTime"])
        return float(days)

    def disease(self, res: _Resource) -> None:
        patient = self.patient(res)
        if patient is None:
            return
        d = res.data
        histology = _extension(d, "histology-morphology-behavior")
        sites = d.get("bodySite", [])
        code, label = self.coded(d.get("code"))
        if code is None:
            code, label = self.coded(histology)
        if code is None:
            raise res.error("Condition has no code in a known terminology", field="code",
                            expected="a coding in SNOMED CT, ICD-10, ICD-O-3 or NCIt")
        onset = _effective(d, "onset")[0]
        laterality = _extension(d, "laterality-qualifier", "laterality") or next(
            (lat for site in sites if (lat := _extension(site, "laterality-qualifier"))), None)
        self.add("diseases", {
            "individual_id": self.person(patient), "code": code, "label": label,
            "icd10": self.also([d.get("code")], "ICD10"),
            "topography": self.also([*sites, d.get("code")], "ICDO3", _TOPOGRAPHY),
            # The morphology in ICD-O-3 when the source has it, else in the source's own terms.
            "morphology": self.also([histology, d.get("code")], "ICDO3", _MORPHOLOGY)
            or self.coded(histology)[0],
            "primary_site": self.coded(sites[0])[0] if sites else None,
            "laterality": self.coded(laterality)[0],
            "age_at_diagnosis": self.age(patient, onset),
            "diagnosis_year": _day(onset).value.year if isinstance(onset, str) else None,
            **self.stage(res),
        }, res)

    def stage(self, condition: _Resource) -> dict:
        """Stage group and T/N/M of a condition. Of several stage groups the pathological one
        wins, then the latest; each category comes preferably from that group's members."""
        linked = self.staging.get(condition, [])
        groups = [(o, basis) for o, kind, basis in linked if kind == "stage"]
        row: dict = {}
        basis = None
        members: list[_Resource | None] = []
        if groups:
            group, basis = max(groups, key=lambda g: (_BASIS_RANK[g[1]], self._when(g[0])))
            members = [self.graph.get(m, group) for m in group.data.get("hasMember", [])]
            row["stage"] = self.coded(group.data.get("valueCodeableConcept"))[0]
            row["stage_system"] = self.stage_system(group.data.get("method"))
            row["stage_basis"] = basis
        if not row.get("stage"):
            for s in condition.data.get("stage", []):
                if s.get("summary"):
                    kind_basis = next((kb for c, _ in _codings(s.get("type"))
                                       if (kb := _STAGING_CODES.get(c))), None)
                    row["stage"] = self.coded(s["summary"])[0]
                    row["stage_basis"] = kind_basis[1] if kind_basis else basis
                    break
        for kind, column in _CATEGORY_COLUMN.items():
            found = [(o, b) for o, k, b in linked if k == kind]
            if found:
                best, _ = max(found, key=lambda f: (f[0] in members, f[1] == basis, self._when(f[0])))
                row[column] = self.coded(best.data.get("valueCodeableConcept"))[0]
        return row

    def _when(self, obs: _Resource) -> date:
        start = _effective(obs.data, "effective")[0]
        day = _day(start) if isinstance(start, str) else None
        return day.value if day else date.min

    def _link_staging(self) -> dict[_Resource, list[tuple[_Resource, str, str | None]]]:
        """Each condition's staging Observations: those its stage.assessment names, those that
        focus on it, and the members of its stage groups. A staging Observation linked to no
        condition goes to its patient's cancer when that patient has exactly one."""
        graph = self.graph
        kinds = {o: k for o in graph.of_type("Observation")
                 if not _void(o.data) and (k := _staging_kind(o))}
        links: dict[_Resource, list[_Resource]] = defaultdict(list)
        for c in graph.of_type("Condition"):
            for s in c.data.get("stage", []):
                links[c].extend(o for a in s.get("assessment", []) if (o := graph.get(a, c)) in kinds)
        for o in kinds:
            for f in o.data.get("focus", []):
                if (target := graph.get(f, o)) is not None and target.type == "Condition":
                    links[target].append(o)
        for found in links.values():
            found.extend(m for o in list(found) for ref in o.data.get("hasMember", [])
                         if (m := graph.get(ref, o)) in kinds)
        claimed = {o for found in links.values() for o in found}
        for o in kinds:
            patient = graph.get(o.data.get("subject"), o)
            cancers = [c for c in self.conditions.get(patient, []) if _is_cancer(c.data)]
            if o not in claimed and len(cancers) == 1:
                links[cancers[0]].append(o)
        return {c: [(o, *kinds[o]) for o in dict.fromkeys(found)] for c, found in links.items()}

    def measurement(self, res: _Resource) -> None:
        patient = self.patient(res)
        if patient is None:
            return
        d = res.data
        code, label = self.coded(d.get("code"), _PREFER_LAB)
        if code is None:  # a local lab code: one lost result, reported, rather than a failed ingest
            self.skipped["Observation (no code in a known terminology)"] += 1
            return
        specimen = self.graph.get(d.get("specimen"), res)
        self.add("measurements", {
            "individual_id": self.person(patient),
            "biosample_id": self.specimen_id(specimen)
            if specimen and specimen.type == "Specimen" else None,
            "code": code, "label": label,
            "age": self.age(patient, _effective(d, "effective")[0]),
            **self.value(d),
        }, res)

    def value(self, d: dict) -> dict:
        if quantity := d.get("valueQuantity"):
            if quantity.get("comparator"):  # "<0.1" is not 0.1
                return {"value_label": f"{quantity['comparator']}{quantity.get('value')}",
                        "unit": _unit(quantity)}
            return {"value": quantity.get("value"), "unit": _unit(quantity)}
        if "valueInteger" in d:
            return {"value": d["valueInteger"]}
        if concept := d.get("valueCodeableConcept"):
            code, label = self.coded(concept)
            return {"value_code": code, "value_label": label}
        return {}  # valueString is free text and may identify; other value types do not fit

    def procedure(self, res: _Resource) -> None:
        d = res.data
        radiation = _is_radiation(d)
        if not radiation and {c for c, _ in _codings(d.get("category"))} & _NOT_TREATMENT:
            self.skipped["Procedure (diagnostic)"] += 1
            return
        patient = self.patient(res)
        if patient is None:
            return
        start, end = _effective(d, "performed")
        agent, agent_label = self.coded(d.get("code"))
        self.add("treatments", {
            "individual_id": self.person(patient),
            "type": self.constant(_RADIOTHERAPY if radiation else _SURGERY),
            "agent": agent, "agent_label": agent_label,
            "start_age": self.age(patient, start), "end_age": self.age(patient, end),
            "intent": self.coded(_extension(d, "treatment-intent", "procedure-intent"))[0],
        }, res)

    def medication(self, res: _Resource) -> None:
        d = res.data
        drug = d.get("medicationCodeableConcept")
        if drug is None:
            medication = self.graph.get(d.get("medicationReference"), res)
            drug = medication.data.get("code") if medication and medication.type == "Medication" else {
                "text": (d.get("medicationReference") or {}).get("display")}
        kind = _drug_kind(d, drug)
        if kind is None:
            self.skipped[f"{res.type} (not an antineoplastic by ATC)"] += 1
            return
        patient = self.patient(res)
        if patient is None:
            return
        start, end = ((d.get("authoredOn"), None) if res.type == "MedicationRequest"
                      else _effective(d, "effective"))
        agent, agent_label = self.coded(drug, _PREFER_DRUG)
        self.add("treatments", {
            "individual_id": self.person(patient), "type": self.constant(kind),
            "agent": agent, "agent_label": agent_label,
            "start_age": self.age(patient, start), "end_age": self.age(patient, end),
            "intent": self.coded(_extension(d, "treatment-intent", "procedure-intent"))[0],
        }, res)

    def biosample(self, res: _Resource) -> None:
        patient = self.patient(res)
        if patient is None:
            return
        d = res.data
        collection = d.get("collection") or {}
        self.add("biosamples", {
            "id": self.specimen_id(res), "individual_id": self.person(patient),
            "sample_type": self.coded(d.get("type"))[0],
            "sampled_tissue": self.coded(collection.get("bodySite"))[0],
            "procedure": self.coded(collection.get("method"))[0],
            "collection_age": self.age(patient, _effective(collection, "collected")[0]),
        }, res)
