"""GA4GH Phenopackets v2: read Phenopackets into the harmonised model, and export it back.

A file holds one Phenopacket, a JSON array of them, or a Cohort (its ``members``). Each is
parsed strictly by the official ``phenopackets`` bindings (unknown fields are errors) and
then checked for what protobuf cannot check: ``id``, ``subject.id``, ``metaData`` with
``created`` and ``createdBy``, and a ``metaData.resources`` entry for every CURIE prefix used.
A Phenopacket states an individual's whole record, so the batch covers every clinical table.

Where things go:

- subject → individuals (sex, year of birth, vital status, survival days); survival days
  also → an overall-survival outcome;
- diseases → diseases (first stage, clinical TNM as T/N/M categories, site, laterality,
  onset); excluded diseases are skipped;
- phenotypicFeatures → phenotypic_features;
- biosamples → biosamples (tumour/normal from materialSample, else tumour progression or
  histology); their diagnosticMarkers, measurements and pathologicalTnmFinding → measurements
  of the biosample. A pathological TNM finding is the value of mCODE's LOINC pathological
  T/N/M observation: the disease row holds one set of categories, and a biosample names no
  disease;
- measurements → measurements;
- medicalActions → treatments: procedure → surgery (its code as agent), radiationTherapy →
  radiotherapy (modality as agent), treatment and therapeuticRegimen → by the drug's ATC
  class, else chemotherapy.

Not read: interpretations and files (variants come from VCF), subject.alternateIds (raw
identifiers), biosample phenotypic features, dose quantities and routes, reference ranges,
evidence and modifiers. Times are ages in years: ISO 8601 durations directly, timestamps
through the subject's dateOfBirth; ranges, intervals and ontology-class onsets give no age.
"""

from __future__ import annotations

import calendar
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import phenopackets as pp
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

import oncofed
from oncofed.errors import IngestError
from oncofed.ingest.batch import Batch, RowBuilder, SourceFile
from oncofed.ingest.reader import IngestContext, expand
from oncofed.model import curie, treatments, vocabulary
from oncofed.model.schema import CLINICAL, TABLES

# --- codes ---------------------------------------------------------------------------------

FEMALE, MALE, UNKNOWN = "NCIT:C16576", "NCIT:C20197", "NCIT:C17998"
ALIVE, DEAD = "NCIT:C37987", "NCIT:C28554"
OVERALL_SURVIVAL = "NCIT:C125201"
NEGATIVE_FINDING = "NCIT:C38757"
REFERENCE_SAMPLE, ABNORMAL_SAMPLE = "EFO:0009654", "EFO:0009655"

_SEX = {"FEMALE": FEMALE, "MALE": MALE, "OTHER_SEX": UNKNOWN, "UNKNOWN_SEX": UNKNOWN}
_SEX_OUT = {FEMALE: "FEMALE", MALE: "MALE", UNKNOWN: "UNKNOWN_SEX"}
_VITAL = {"ALIVE": ALIVE, "DECEASED": DEAD, "UNKNOWN_STATUS": UNKNOWN}
_VITAL_OUT = {ALIVE: "ALIVE", DEAD: "DECEASED"}
# Biosample.materialSample is the Phenopacket field for tumour/normal designation (ARGO's
# tumour_normal_designation maps to it).
_MATERIAL = {REFERENCE_SAMPLE: "normal", ABNORMAL_SAMPLE: "tumour"}
_MATERIAL_OUT = {v: k for k, v in _MATERIAL.items()}
# Pathological TNM categories, the LOINC observation codes mCODE uses.
_PATHOLOGICAL_TNM = {"T": "LOINC:21899-0", "N": "LOINC:21900-6", "M": "LOINC:21901-4"}
# Labels of codes the export introduces that the curated vocabulary does not hold.
_LABELS = {REFERENCE_SAMPLE: "reference sample", ABNORMAL_SAMPLE: "abnormal sample"}

# namespacePrefix → (name, url, iriPrefix) for metaData.resources on export.
_RESOURCES = {
    "NCIT": ("NCI Thesaurus OBO Edition", "http://purl.obolibrary.org/obo/ncit.owl",
             "http://purl.obolibrary.org/obo/NCIT_"),
    "HP": ("Human Phenotype Ontology", "http://purl.obolibrary.org/obo/hp.owl",
           "http://purl.obolibrary.org/obo/HP_"),
    "UBERON": ("Uber-anatomy ontology", "http://purl.obolibrary.org/obo/uberon.owl",
               "http://purl.obolibrary.org/obo/UBERON_"),
    "MONDO": ("Mondo Disease Ontology", "http://purl.obolibrary.org/obo/mondo.owl",
              "http://purl.obolibrary.org/obo/MONDO_"),
    "EFO": ("Experimental Factor Ontology", "http://www.ebi.ac.uk/efo/efo.owl",
            "http://www.ebi.ac.uk/efo/EFO_"),
    "GENO": ("Genotype Ontology", "http://purl.obolibrary.org/obo/geno.owl",
             "http://purl.obolibrary.org/obo/GENO_"),
    "SO": ("Sequence Ontology", "http://purl.obolibrary.org/obo/so.owl",
           "http://purl.obolibrary.org/obo/SO_"),
    "LOINC": ("Logical Observation Identifiers Names and Codes", "https://loinc.org",
              "https://loinc.org/"),
    "ATC": ("Anatomical Therapeutic Chemical Classification", "https://atcddd.fhi.no/atc_ddd_index/",
            "https://atcddd.fhi.no/atc_ddd_index/?code="),
    "SNOMEDCT": ("SNOMED CT", "http://snomed.info/sct", "http://snomed.info/id/"),
    "ICD10": ("International Classification of Diseases, 10th revision",
              "https://icd.who.int/browse10", "https://icd.who.int/browse10/2019/en#/"),
    "ICDO3": ("International Classification of Diseases for Oncology, 3rd edition",
              "https://www.who.int/standards/classifications/other-classifications/"
              "international-classification-of-diseases-for-oncology", "https://bioregistry.io/icdo:"),
    "UCUM": ("Unified Code for Units of Measure", "https://ucum.org", "https://bioregistry.io/ucum:"),
    "HGNC": ("HUGO Gene Nomenclature Committee", "https://www.genenames.org",
             "https://identifiers.org/hgnc:"),
}

_ONTOLOGY_CLASS = pp.OntologyClass.DESCRIPTOR.full_name
_TIMESTAMP = Timestamp.DESCRIPTOR.full_name

# --- ages ----------------------------------------------------------------------------------

DAYS_PER_YEAR = 365.25
_NUM = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"P(?=\d|T\d)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?"
)


def _years(y: float, m: float, d: float) -> float:
    """One formula for every age, so that an exported duration reads back to the same float."""
    return y + m / 12 + d / DAYS_PER_YEAR


def years_of(duration: str) -> float | None:
    """An ISO 8601 duration (``P52Y2M``) in years, or None if it is not one."""
    match = _DURATION.fullmatch(duration.strip())
    if not match:
        return None
    y, mo, w, d, h, mi, s = (float(g.replace(",", ".")) if g else 0.0 for g in match.groups())
    return _years(y, mo, w * 7 + d + (h + (mi + s / 60) / 60) / 24)


def duration_of(years: float) -> str:
    """Years as an ISO 8601 duration to the day (``P52Y2M``); the inverse of ``years_of``."""
    months = math.floor(years * 12 + 1e-9)
    days = round((years - months / 12) * DAYS_PER_YEAR)
    y, m = divmod(months, 12)
    parts = [f"{n}{unit}" for n, unit in ((y, "Y"), (m, "M"), (days, "D")) if n]
    return "P" + ("".join(parts) or "0D")


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def age_between(born: date, when: date) -> float | None:
    """Calendar age (whole years, months, then days) in years; None before birth."""
    months = (when.year - born.year) * 12 + when.month - born.month - (when.day < born.day)
    if months < 0:
        return None
    y, m = divmod(months, 12)
    return _years(y, m, (when - _add_months(born, months)).days)


# --- reading -------------------------------------------------------------------------------


def read(files: list[Path], ctx: IngestContext) -> Batch:
    """Read Phenopacket JSON files (or folders of them) into one batch."""
    files = expand([Path(f) for f in files], (".json",))
    builder = RowBuilder()
    seen: dict[str, str] = {}  # pseudonym → where it was first read, to refuse duplicates
    for path in files:
        for record, packet in _packets(path):
            _Mapper(builder, ctx, str(path), record, seen).packet(packet)
        ctx.progress(advance=1, total=len(files))
    return builder.build([SourceFile.of(f) for f in files], covers=CLINICAL)


def _packets(path: Path) -> Iterator[tuple[str | None, pp.Phenopacket]]:
    """Each valid Phenopacket in a file, with the record name errors should use."""
    file = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise IngestError("not UTF-8 text", file=file, expected="a Phenopacket as JSON") from None
    except json.JSONDecodeError as e:
        raise IngestError(f"not valid JSON at column {e.colno}: {e.msg}", file=file, line=e.lineno,
                          expected="a Phenopacket as JSON") from None
    if isinstance(doc, dict) and "members" in doc:
        cohort = _parse(doc, pp.Cohort(), file, _record_of(doc, None))
        for i, member in enumerate(cohort.members):
            if not member.HasField("meta_data"):
                member.meta_data.CopyFrom(cohort.meta_data)
            record = member.id or f"members[{i}]"
            yield record, _checked(member, file, record)
    elif isinstance(doc, (dict, list)):
        for i, item in enumerate(doc if isinstance(doc, list) else [doc]):
            index = i if isinstance(doc, list) else None
            record = _record_of(item, index)
            if not isinstance(item, dict):
                raise IngestError("not a Phenopacket", file=file, record=record,
                                  expected="a JSON object", got=type(item).__name__)
            yield record, _checked(_parse(item, pp.Phenopacket(), file, record), file, record)
    else:
        raise IngestError("not a Phenopacket", file=file,
                          expected="a Phenopacket object, an array of them or a Cohort",
                          got=type(doc).__name__)


def _record_of(item: object, index: int | None) -> str | None:
    pid = item.get("id") if isinstance(item, dict) else None
    if isinstance(pid, str) and pid:
        return pid
    return f"[{index}]" if index is not None else None


def _parse(doc: dict, message: Message, file: str, record: str | None) -> Message:
    try:
        return json_format.ParseDict(doc, message)  # strict: unknown fields are errors
    except json_format.ParseError as e:
        raise _parse_error(str(e), message.DESCRIPTOR, file, record) from None


def _parse_error(text: str, root: Descriptor, file: str, record: str | None) -> IngestError:
    """Turn protobuf's nested parse message into field path, reason and what was expected."""
    at = re.search(rf'\bat "?{root.name}\.?([\w.\[\]]*?)"?\.*(?:\n|$)', text)
    at_path = at.group(1) if at else ""
    chain = ".".join(re.findall(r"Failed to parse (\w+) field", text))
    unknown = re.search(r'has no field named "([^"]+)"', text)
    if unknown:
        container = _resolve(root, at_path)[1]
        names = ", ".join(f.json_name for f in container.fields) if container else None
        return IngestError("unknown field", file=file, record=record,
                           field=".".join(p for p in (at_path, unknown.group(1)) if p),
                           expected=f"one of {names}" if names else None)
    path = at_path if len(_segments(at_path)) >= len(_segments(chain)) else chain
    reason = re.sub(r"^(Failed to parse \w+ field: )+", "", text.split("\n")[0])
    reason = re.sub(rf'\s+at "?{root.name}[\w.\[\]]*"?\.*$', "", reason).rstrip(".")
    field = _resolve(root, path)[0]
    return IngestError(f"not a valid Phenopacket: {reason}", file=file, record=record,
                       field=path or None, expected=_expected(field) if field else None)


def _segments(path: str) -> list[str]:
    return [re.sub(r"\[\d+\]$", "", s) for s in path.split(".") if s]


def _resolve(root: Descriptor, path: str) -> tuple[FieldDescriptor | None, Descriptor | None]:
    """The field a JSON path names, and the message type that holds its value."""
    field, desc = None, root
    for name in _segments(path):
        field = (desc.fields_by_camelcase_name.get(name) or desc.fields_by_name.get(name)) if desc else None
        if field is None:
            return None, None
        desc = field.message_type
    return field, desc


def _expected(field: FieldDescriptor) -> str:
    if field.message_type and field.message_type.GetOptions().map_entry:
        return "a JSON object"
    if field.is_repeated:
        return "a JSON list"
    if field.message_type:
        if field.message_type.full_name == _TIMESTAMP:
            return "an RFC 3339 timestamp such as 2021-05-11T15:07:16Z"
        return f"a JSON object ({field.message_type.name})"
    if field.enum_type:
        return "one of " + ", ".join(v.name for v in field.enum_type.values)
    kinds = {
        FieldDescriptor.CPPTYPE_STRING: "text", FieldDescriptor.CPPTYPE_BOOL: "true or false",
        FieldDescriptor.CPPTYPE_DOUBLE: "a number", FieldDescriptor.CPPTYPE_FLOAT: "a number",
        FieldDescriptor.CPPTYPE_UINT32: "a whole number, 0 or more",
        FieldDescriptor.CPPTYPE_UINT64: "a whole number, 0 or more",
    }
    return kinds.get(field.cpp_type, "an integer")


def _checked(packet: pp.Phenopacket, file: str, record: str | None) -> pp.Phenopacket:
    problem = next(problems(packet), None)
    if problem:
        field, reason, expected, got = problem
        raise IngestError(reason, file=file, record=record, field=field, expected=expected, got=got)
    return packet


def problems(packet: pp.Phenopacket) -> Iterator[tuple[str, str, str, str | None]]:
    """What the Phenopacket spec requires beyond the protobuf schema, as (field, reason,
    expected, got), in document order."""
    if not packet.id:
        yield "id", "a Phenopacket needs an id", "text", None
    if not packet.subject.id:
        yield "subject.id", "the subject needs an id", "text", None
    meta = packet.meta_data
    if not packet.HasField("meta_data"):
        yield "metaData", "a Phenopacket needs metaData", "created, createdBy and resources", None
        return
    if not meta.HasField("created"):
        yield "metaData.created", "metaData needs created", "an RFC 3339 timestamp", None
    if not meta.created_by:
        yield "metaData.createdBy", "metaData needs createdBy", "who or what created it", None
    for i, biosample in enumerate(packet.biosamples):
        if not biosample.id:
            yield f"biosamples[{i}].id", "a biosample needs an id", "text", None
    declared = {r.namespace_prefix for r in meta.resources}
    for path, code in ontology_classes(packet):
        if not curie.is_curie(code):
            yield f"{path}.id", "not a CURIE", curie.EXAMPLE, code
        elif curie.prefix(code) not in declared:
            prefix = curie.prefix(code)
            yield (f"{path}.id", f"CURIE prefix {prefix!r} has no entry in metaData.resources",
                   f"a resource with namespacePrefix {prefix!r}", code)


def ontology_classes(message: Message, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON path, id) of every OntologyClass in a message, in document order."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            items = [(f"{field.json_name}.{k}", v) for k, v in value.items()]
        elif field.is_repeated:
            items = [(f"{field.json_name}[{i}]", v) for i, v in enumerate(value)]
        else:
            items = [(field.json_name, value)]
        for name, item in items:
            where = f"{path}.{name}" if path else name
            if item.DESCRIPTOR.full_name == _ONTOLOGY_CLASS:
                yield where, item.id
            else:
                yield from ontology_classes(item, where)


def _tnm_category(label: str) -> str | None:
    """'T', 'N' or 'M' from a TNM finding's label (``pT2b Stage Finding``, ``cN0``, ``M1``)."""
    match = re.search(r"\b[cpyar]{0,3}([TNM])(?:X|is|\d)", label)
    return match.group(1) if match else None


def _therapy(default: str, code: str | None) -> tuple[str, str | None]:
    """(treatment type, agent): a type code given as the agent is the type, not an agent; a
    drug's ATC class decides its type, else the action's default does."""
    if code in treatments.TYPES:
        return code, None
    if default == treatments.CHEMOTHERAPY and code and code.startswith("ATC:"):
        return treatments.type_of_atc(code) or default, code
    return default, code


@dataclass
class _Mapper:
    """Maps one Phenopacket onto rows; knows where it is, for errors, and the birth date,
    for turning timestamps into ages."""

    builder: RowBuilder
    ctx: IngestContext
    file: str
    record: str | None
    seen: dict[str, str]
    born: date | None = None
    individual: str = ""

    def error(self, reason: str, field: str, expected: str | None = None, got: object = None) -> IngestError:
        return IngestError(reason, file=self.file, record=self.record, field=field, expected=expected, got=got)

    def add(self, table: str, row: dict) -> None:
        self.builder.add(table, row, file=self.file, record=self.record)

    def code(self, term: pp.OntologyClass) -> str | None:
        if term.id:
            self.builder.term(term.id, term.label)
        return term.id or None

    def once(self, pseudonym: str, what: str, field: str) -> str:
        """The pseudonym, unless an earlier Phenopacket of this ingest already had it."""
        if pseudonym in self.seen:
            raise self.error(f"{what} already read from {self.seen[pseudonym]}", field,
                             expected="each subject and biosample in one Phenopacket only")
        self.seen[pseudonym] = f"{self.file}, record {self.record}"
        return pseudonym

    def stamp_age(self, stamp: Timestamp, field: str) -> float | None:
        if self.born is None:
            return None
        age = age_between(self.born, stamp.ToDatetime(UTC).date())
        if age is None:
            raise self.error("before the subject's dateOfBirth", field, expected="a later time")
        return age

    def age(self, time: pp.TimeElement, field: str) -> float | None:
        kind = time.WhichOneof("element")
        if kind == "age":
            years = years_of(time.age.iso8601duration)
            if years is None:
                raise self.error("not an ISO 8601 duration", f"{field}.age.iso8601duration",
                                 expected="a duration such as P52Y2M", got=time.age.iso8601duration)
            return years
        if kind == "timestamp":
            return self.stamp_age(time.timestamp, f"{field}.timestamp")
        return None  # ranges, intervals, gestational ages and onset classes are not one age

    # --- sections

    def packet(self, p: pp.Phenopacket) -> None:
        self.subject(p.subject)
        for i, feature in enumerate(p.phenotypic_features):
            self.feature(feature, f"phenotypicFeatures[{i}]")
        for i, disease in enumerate(p.diseases):
            self.disease(disease, f"diseases[{i}]")
        for i, biosample in enumerate(p.biosamples):
            self.biosample(biosample, p.subject.id, f"biosamples[{i}]")
        for i, measurement in enumerate(p.measurements):
            self.measurement(measurement, None, f"measurements[{i}]")
        for i, action in enumerate(p.medical_actions):
            self.action(action, f"medicalActions[{i}]")

    def subject(self, s: pp.Individual) -> None:
        if s.HasField("date_of_birth"):
            self.born = s.date_of_birth.ToDatetime(UTC).date()
        self.individual = self.once(self.ctx.pseudonym(s.id), "this subject", "subject.id")
        vital = s.vital_status if s.HasField("vital_status") else None
        days = vital.survival_time_in_days if vital and vital.survival_time_in_days else None
        self.add("individuals", {
            "id": self.individual,
            "sex": _SEX[pp.Sex.Name(s.sex)],
            "year_of_birth": self.born.year if self.born else None,
            "country": self.ctx.country,
            "vital_status": _VITAL[pp.VitalStatus.Status.Name(vital.status)] if vital else None,
            "followup_days": days,
        })
        if days is not None:
            self.add("outcomes", {"individual_id": self.individual, "endpoint": OVERALL_SURVIVAL,
                                  "days": days, "event": vital.status == pp.VitalStatus.DECEASED})

    def feature(self, f: pp.PhenotypicFeature, field: str) -> None:
        self.add("phenotypic_features", {
            "individual_id": self.individual, "code": self.code(f.type), "label": f.type.label,
            "excluded": f.excluded, "severity": self.code(f.severity),
            "onset_age": self.age(f.onset, f"{field}.onset"),
        })

    def tnm(self, findings: Iterable[pp.OntologyClass], field: str) -> dict[str, pp.OntologyClass]:
        by_category: dict[str, pp.OntologyClass] = {}
        for i, finding in enumerate(findings):
            category = _tnm_category(finding.label)
            if category is None:
                raise self.error("not a T, N or M category", f"{field}[{i}].label",
                                 expected="a label such as 'pT2b Stage Finding'", got=finding.label)
            if category in by_category:
                raise self.error(f"a second {category} category", f"{field}[{i}]",
                                 expected=f"one {category} finding")
            by_category[category] = finding
        return by_category

    def disease(self, d: pp.Disease, field: str) -> None:
        if d.excluded:
            return  # ruled out, not diagnosed: the model records diagnoses only
        tnm = self.tnm(d.clinical_tnm_finding, f"{field}.clinicalTnmFinding")
        onset_stamp = d.onset.WhichOneof("element") == "timestamp"
        self.add("diseases", {
            "individual_id": self.individual, "code": self.code(d.term), "label": d.term.label,
            "primary_site": self.code(d.primary_site), "laterality": self.code(d.laterality),
            "stage": self.code(d.disease_stage[0]) if d.disease_stage else None,
            "stage_basis": "clinical" if tnm else None,
            "t_category": self.code(tnm["T"]) if "T" in tnm else None,
            "n_category": self.code(tnm["N"]) if "N" in tnm else None,
            "m_category": self.code(tnm["M"]) if "M" in tnm else None,
            "age_at_diagnosis": self.age(d.onset, f"{field}.onset"),
            "diagnosis_year": d.onset.timestamp.ToDatetime(UTC).year if onset_stamp else None,
        })

    def biosample(self, b: pp.Biosample, subject_id: str, field: str) -> None:
        if b.individual_id and b.individual_id != subject_id:
            # A Phenopacket describes one individual; a sample of someone else would dangle.
            raise self.error("biosample of another individual", f"{field}.individualId",
                             expected="the subject's id")
        sample = self.once(self.ctx.pseudonym(b.id, namespace=f"{self.ctx.dataset_id}/biosample"),
                           "this biosample", f"{field}.id")
        self.add("biosamples", {
            "id": sample, "individual_id": self.individual,
            "sampled_tissue": self.code(b.sampled_tissue), "sample_type": self.code(b.sample_type),
            "tumour_normal": _tumour_normal(b), "histology": self.code(b.histological_diagnosis),
            "tumour_progression": self.code(b.tumor_progression), "grade": self.code(b.tumor_grade),
            "stage": self.code(b.pathological_stage), "procedure": self.code(b.procedure.code),
            "collection_age": self.age(b.time_of_collection, f"{field}.timeOfCollection"),
        })
        for marker in b.diagnostic_markers:
            self.add("measurements", {"individual_id": self.individual, "biosample_id": sample,
                                      "code": self.code(marker), "label": marker.label})
        tnm = self.tnm(b.pathological_tnm_finding, f"{field}.pathologicalTnmFinding")
        for category, finding in tnm.items():
            code = _PATHOLOGICAL_TNM[category]
            self.builder.term(code, vocabulary.label(code))
            self.add("measurements", {
                "individual_id": self.individual, "biosample_id": sample, "code": code,
                "label": vocabulary.label(code), "value_code": self.code(finding),
                "value_label": finding.label,
            })
        for i, measurement in enumerate(b.measurements):
            self.measurement(measurement, sample, f"{field}.measurements[{i}]")

    def measurement(self, m: pp.Measurement, sample: str | None, field: str) -> None:
        base = {"individual_id": self.individual, "biosample_id": sample,
                "age": self.age(m.time_observed, f"{field}.timeObserved")}
        if m.WhichOneof("measurement_value") == "complex_value":
            # Each typed quantity (e.g. systolic and diastolic pressure) is its own measurement.
            for tq in m.complex_value.typed_quantities:
                self.add("measurements", {**base, "code": self.code(tq.type), "label": tq.type.label,
                                          "value": tq.quantity.value, "unit": self.code(tq.quantity.unit)})
            return
        row = {**base, "code": self.code(m.assay), "label": m.assay.label}
        kind = m.value.WhichOneof("value")
        if kind == "quantity":
            row |= {"value": m.value.quantity.value, "unit": self.code(m.value.quantity.unit)}
        elif kind == "ontology_class":
            row |= {"value_code": self.code(m.value.ontology_class),
                    "value_label": m.value.ontology_class.label}
        self.add("measurements", row)

    def action(self, a: pp.MedicalAction, field: str) -> None:
        kind = a.WhichOneof("action")
        start = end = None
        if kind == "procedure":
            default, what = treatments.SURGERY, a.procedure.code
            start = self.age(a.procedure.performed, f"{field}.procedure.performed")
        elif kind == "radiation_therapy":
            default, what = treatments.RADIOTHERAPY, a.radiation_therapy.modality
        elif kind == "treatment":
            default, what = treatments.CHEMOTHERAPY, a.treatment.agent
            at = f"{field}.treatment.doseIntervals"
            intervals = [(f"{at}[{j}].interval", d.interval) for j, d in enumerate(a.treatment.dose_intervals)]
            starts = [self.stamp_age(i.start, f"{w}.start") for w, i in intervals if i.HasField("start")]
            ends = [self.stamp_age(i.end, f"{w}.end") for w, i in intervals if i.HasField("end")]
            start = min((s for s in starts if s is not None), default=None)
            end = max((e for e in ends if e is not None), default=None)
        elif kind == "therapeutic_regimen":
            regimen = a.therapeutic_regimen
            default, what = treatments.CHEMOTHERAPY, regimen.ontology_class
            if not what.id and curie.is_curie(regimen.external_reference.id):
                what = pp.OntologyClass(id=regimen.external_reference.id,
                                        label=regimen.external_reference.description)
            start = self.age(regimen.start_time, f"{field}.therapeuticRegimen.startTime")
            end = self.age(regimen.end_time, f"{field}.therapeuticRegimen.endTime")
        else:
            raise self.error("a medical action without an action", field,
                             expected="procedure, treatment, radiationTherapy or therapeuticRegimen")
        type_, agent = _therapy(default, self.code(what))
        self.builder.term(type_, vocabulary.label(type_))
        self.add("treatments", {
            "individual_id": self.individual, "type": type_, "agent": agent,
            "agent_label": what.label if agent else None, "start_age": start, "end_age": end,
            "intent": self.code(a.treatment_intent),
        })


def _tumour_normal(b: pp.Biosample) -> str | None:
    if b.material_sample.id in _MATERIAL:
        return _MATERIAL[b.material_sample.id]
    if b.tumor_progression.id:
        return "tumour"
    if b.histological_diagnosis.id:
        return "normal" if b.histological_diagnosis.id == NEGATIVE_FINDING else "tumour"
    return None


# --- export --------------------------------------------------------------------------------


def export(con: duckdb.DuckDBPyConnection, dataset_id: str) -> list[dict]:
    """One Phenopacket (protobuf JSON mapping) per individual of a dataset in the node store.

    Ids are the store's pseudonyms. Not exported, for want of a Phenopacket field: country and
    region, ICD-O-3/ICD-10 codes, disease grade and stage system, outcomes other than overall
    survival, radiotherapy ages and a surgery's end age; a diagnosis year is exported only when
    the age at diagnosis is unknown, as 1 January (the spec rounds dates down to what is known).
    """
    parts = _Parts(_LABELS | dict(con.execute("SELECT id, label FROM terms").fetchall()))
    record: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for table in CLINICAL[1:]:
        for row in _fetch(con, table, dataset_id):
            record[row["individual_id"]][table].append(row)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    individuals = sorted(_fetch(con, "individuals", dataset_id), key=lambda r: r["id"])
    return [_phenopacket(ind, record[ind["id"]], parts, created) for ind in individuals]


def export_to_dir(con: duckdb.DuckDBPyConnection, dataset_id: str, out_dir: Path) -> list[Path]:
    """Write the dataset's Phenopackets as ``<pseudonym>.json`` files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in export(con, dataset_id):
        path = out_dir / f"{doc['id']}.json"
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _fetch(con: duckdb.DuckDBPyConnection, table: str, dataset_id: str) -> list[dict]:
    columns = TABLES[table].column_names
    rows = con.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE dataset_id = ?", [dataset_id])
    return [dict(zip(columns, row)) for row in rows.fetchall()]


def _phenopacket(ind: dict, record: dict[str, list[dict]], parts: _Parts, created: str) -> dict:
    pid = ind["id"]
    samples = {b["id"] for b in record["biosamples"]}
    by_sample: dict[str | None, list[dict]] = defaultdict(list)
    for m in record["measurements"]:
        by_sample[m["biosample_id"] if m["biosample_id"] in samples else None].append(m)
    doc = _compact({
        "id": pid,
        "subject": parts.subject(ind, record["outcomes"]),
        "phenotypicFeatures": [parts.feature(f) for f in record["phenotypic_features"]],
        "measurements": [parts.measurement(m) for m in by_sample[None]],
        "biosamples": [parts.biosample(b, pid, by_sample[b["id"]]) for b in record["biosamples"]],
        "diseases": [parts.disease(d) for d in record["diseases"]],
        "medicalActions": [parts.action(t) for t in record["treatments"]],
        "metaData": {"created": created, "createdBy": f"oncofed {oncofed.__version__}",
                     "phenopacketSchemaVersion": "2.0"},
    })
    packet = json_format.ParseDict(doc, pp.Phenopacket())
    prefixes = dict.fromkeys(curie.prefix(code) for _, code in ontology_classes(packet))
    packet.meta_data.resources.extend(_resource(p) for p in prefixes)
    problem = next(problems(packet), None)
    if problem:
        raise AssertionError(f"exported Phenopacket {pid} is invalid: {problem}")
    return json_format.MessageToDict(packet)


def _compact(value):
    """Drop empty parts, so that documents can be written as literals with optional fields."""
    if isinstance(value, dict):
        value = {k: _compact(v) for k, v in value.items()}
        return {k: v for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [v for v in (_compact(v) for v in value) if v not in (None, [], {})]
    return value


def _age(years: float | None) -> dict | None:
    return {"age": {"iso8601duration": duration_of(years)}} if years is not None else None


@dataclass(frozen=True)
class _Parts:
    """The parts of an exported Phenopacket, built from store rows; a term's label is the
    row's own, else the store's ``terms`` label, else the curated vocabulary's, else the CURIE."""

    labels: dict[str, str]

    def term(self, code: str | None, label: str | None = None) -> dict | None:
        if not code:
            return None
        return {"id": code, "label": label or self.labels.get(code) or vocabulary.label(code) or code}

    def subject(self, ind: dict, outcomes: list[dict]) -> dict:
        survival = next((o for o in outcomes if o["endpoint"] == OVERALL_SURVIVAL), None)
        days = survival["days"] if survival else ind["followup_days"]
        status = _VITAL_OUT.get(ind["vital_status"], "UNKNOWN_STATUS")
        if ind["vital_status"] is None and survival:
            status = "DECEASED" if survival["event"] else "ALIVE"
        known = ind["vital_status"] is not None or days is not None
        return {
            "id": ind["id"],
            "sex": _SEX_OUT.get(ind["sex"], "OTHER_SEX") if ind["sex"] else None,
            # the store keeps the year only; the spec rounds a birth date down to what is known
            "dateOfBirth": f"{ind['year_of_birth']:04d}-01-01T00:00:00Z" if ind["year_of_birth"] else None,
            "vitalStatus": {"status": status, "survivalTimeInDays": round(days) if days is not None else None}
            if known else None,
        }

    def feature(self, f: dict) -> dict:
        return {"type": self.term(f["code"], f["label"]), "excluded": f["excluded"] or None,
                "severity": self.term(f["severity"]), "onset": _age(f["onset_age"])}

    def measurement(self, m: dict) -> dict:
        if m["value"] is not None:
            value = {"quantity": {"value": m["value"], "unit": self.term(m["unit"])}}
        else:
            value = {"ontologyClass": self.term(m["value_code"], m["value_label"])}
        return {"assay": self.term(m["code"], m["label"]), "value": value, "timeObserved": _age(m["age"])}

    def biosample(self, b: dict, pid: str, measurements: list[dict]) -> dict:
        ptnm = [m for m in measurements if m["code"] in _PATHOLOGICAL_TNM.values()]
        rest = [m for m in measurements if m not in ptnm]
        # a marker is a measurement without a value; a Phenopacket Measurement needs one
        valued = [m for m in rest if m["value"] is not None or m["value_code"] is not None]
        return {
            "id": b["id"], "individualId": pid,
            "sampledTissue": self.term(b["sampled_tissue"]), "sampleType": self.term(b["sample_type"]),
            "timeOfCollection": _age(b["collection_age"]),
            "histologicalDiagnosis": self.term(b["histology"]),
            "tumorProgression": self.term(b["tumour_progression"]), "tumorGrade": self.term(b["grade"]),
            "pathologicalStage": self.term(b["stage"]),
            "pathologicalTnmFinding": [self.term(m["value_code"], m["value_label"]) for m in ptnm],
            "diagnosticMarkers": [self.term(m["code"], m["label"]) for m in rest if m not in valued],
            "measurements": [self.measurement(m) for m in valued],
            "procedure": {"code": self.term(b["procedure"])},
            "materialSample": self.term(_MATERIAL_OUT.get(b["tumour_normal"])),
        }

    def disease(self, d: dict) -> dict:
        onset = _age(d["age_at_diagnosis"])
        if onset is None and d["diagnosis_year"] is not None:
            onset = {"timestamp": f"{d['diagnosis_year']:04d}-01-01T00:00:00Z"}
        return {
            "term": self.term(d["code"], d["label"]), "onset": onset,
            "diseaseStage": [self.term(d["stage"])],
            "clinicalTnmFinding": [self.term(d[c]) for c in ("t_category", "n_category", "m_category")],
            "primarySite": self.term(d["primary_site"]), "laterality": self.term(d["laterality"]),
        }

    def action(self, t: dict) -> dict:
        what = self.term(t["agent"], t["agent_label"]) or self.term(t["type"])
        if t["type"] == treatments.SURGERY:
            act = {"procedure": {"code": what, "performed": _age(t["start_age"])}}
        elif t["type"] == treatments.RADIOTHERAPY:
            act = {"radiationTherapy": {"modality": what}}
        elif t["start_age"] is not None or t["end_age"] is not None:
            # a Treatment's times are dated dose intervals; a regimen's can be ages
            act = {"therapeuticRegimen": {"ontologyClass": what, "startTime": _age(t["start_age"]),
                                          "endTime": _age(t["end_age"])}}
        else:
            act = {"treatment": {"agent": what}}
        return act | {"treatmentIntent": self.term(t["intent"])}


def _resource(prefix: str) -> pp.Resource:
    # Unknown prefixes resolve through bioregistry. The store does not keep which release of
    # a vocabulary the source used, so the version is "unknown" rather than a guess.
    name, url, iri = _RESOURCES.get(prefix, (prefix, f"https://bioregistry.io/registry/{prefix.lower()}",
                                             f"https://bioregistry.io/{prefix.lower()}:"))
    return pp.Resource(id=prefix.lower(), name=name, namespace_prefix=prefix, url=url,
                       version="unknown", iri_prefix=iri)
