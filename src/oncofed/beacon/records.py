"""Store rows as Beacon v2 default-model records (individuals, biosamples, genomic variations,
datasets, cohorts), each valid against the model's ``defaultSchema.json``.

Pure functions of row dicts (column → value, as the store's tables hold them) and a
``label`` lookup for codes. What the model has no place for is left out rather than forced:
a measurement with only a free-text value, an individual's country (the model wants a GAZ
term). No record carries ``info``: the default model points it at a schema file it does not
ship (upstream problem 1), so a strict validator could not check a record that had one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from oncofed.beacon import variants

Label = Callable[[str], "str | None"]
Row = dict[str, Any]

UNKNOWN = "NCIT:C17998"
# The stored tumour/normal designation as the model's biosample status (EFO material entity).
STATUS = {"tumour": ("EFO:0009655", "abnormal sample"), "normal": ("EFO:0009654", "reference sample")}
SPECIMEN = {"id": "OBI:0001479", "label": "specimen from organism"}
ORIGIN = {"somatic": ("SO:0001777", "somatic_variant"), "germline": ("SO:0001778", "germline_variant")}
# A number stored without a unit is a pure number (a count, a score): UCUM's unity.
UNITY = {"id": "UCUM:1", "label": "1"}


def term(code: str, label: Label, fallback: str | None = None) -> dict[str, str]:
    out = {"id": code}
    text = label(code) or fallback
    if text:
        out["label"] = text
    return out


def age(years: float | None) -> dict[str, str] | None:
    if years is None:
        return None
    from oncofed.ingest.phenopacket import duration_of  # one writer of ISO 8601 ages

    return {"iso8601duration": duration_of(years)}


def individual(row: Row, parts: dict[str, list[Row]], label: Label) -> dict[str, Any]:
    """An individual with its diseases, treatments, measurements and phenotypic features."""
    out: dict[str, Any] = {"id": row["id"], "sex": term(row["sex"] or UNKNOWN, label)}
    diseases = [_disease(d, label) for d in parts.get("diseases", [])]
    treatments = [_treatment(t, label) for t in parts.get("treatments", [])]
    measures = [m for m in (_measure(m, label) for m in parts.get("measurements", [])) if m]
    features = [_feature(f, label) for f in parts.get("phenotypic_features", [])]
    for key, items in (("diseases", diseases), ("treatments", treatments), ("measures", measures),
                       ("phenotypicFeatures", features)):
        if items:
            out[key] = items
    return out


def _disease(d: Row, label: Label) -> dict[str, Any]:
    out: dict[str, Any] = {"diseaseCode": term(d["code"], label, d.get("label"))}
    if d.get("age_at_diagnosis") is not None:
        out["ageOfOnset"] = age(d["age_at_diagnosis"])
    if d.get("stage"):
        out["stage"] = term(d["stage"], label)
    return out


def _treatment(t: Row, label: Label) -> dict[str, Any]:
    code = t.get("agent") or t["type"]
    out: dict[str, Any] = {"treatmentCode": term(code, label, t.get("agent_label") if t.get("agent") else None)}
    if t.get("start_age") is not None:
        out["ageAtOnset"] = age(t["start_age"])
    return out


def _measure(m: Row, label: Label) -> dict[str, Any] | None:
    if m.get("value") is not None:
        unit = term(m["unit"], label) if m.get("unit") else UNITY
        value: dict[str, Any] = {"value": m["value"], "unit": unit}
    elif m.get("value_code"):
        value = term(m["value_code"], label, m.get("value_label"))
    else:
        return None  # a free-text value has no place in measurementValue
    out: dict[str, Any] = {"assayCode": term(m["code"], label, m.get("label")), "measurementValue": value}
    if m.get("age") is not None:
        out["observationMoment"] = age(m["age"])
    return out


def _feature(f: Row, label: Label) -> dict[str, Any]:
    out: dict[str, Any] = {"featureType": term(f["code"], label, f.get("label")),
                           "excluded": bool(f.get("excluded"))}
    if f.get("severity"):
        out["severity"] = term(f["severity"], label)
    if f.get("onset_age") is not None:
        out["onset"] = age(f["onset_age"])
    return out


def biosample(row: Row, label: Label) -> dict[str, Any]:
    status = STATUS.get(row.get("tumour_normal") or "")
    out: dict[str, Any] = {
        "id": row["id"], "individualId": row["individual_id"],
        "biosampleStatus": {"id": status[0], "label": status[1]} if status else term(UNKNOWN, label, "Unknown"),
        "sampleOriginType": SPECIMEN,
    }
    for key, column in (("sampleOriginDetail", "sampled_tissue"), ("histologicalDiagnosis", "histology"),
                        ("tumorProgression", "tumour_progression"), ("tumorGrade", "grade"),
                        ("pathologicalStage", "stage")):
        if row.get(column):
            out[key] = term(row[column], label)
    if row.get("procedure"):
        out["obtentionProcedure"] = {"procedureCode": term(row["procedure"], label)}
    if row.get("collection_age") is not None:
        out["collectionMoment"] = age(row["collection_age"])["iso8601duration"]
    return out


def genomic_variation(row: Row, calls: Iterable[Row], label: Label) -> dict[str, Any]:
    """A variant as the model's legacy variation (alleles and a VRS SequenceLocation, 0-based
    half-open), with identifiers, molecular attributes and one case-level entry per call."""
    ref, alt = row["ref"], row["alt"]
    start = row["position"] - 1
    plain = variants.plain_alleles(ref, alt)
    variation: dict[str, Any] = {
        "variantType": variants.variant_type(ref, alt),
        "alternateBases": alt if plain else ".",  # symbolic ALT (<DEL>, breakends): no literal sequence
        "location": {
            "type": "SequenceLocation",
            "sequence_id": variants.sequence_id(row["assembly"], row["chromosome"]),
            "interval": {"type": "SequenceInterval", "start": {"type": "Number", "value": start},
                         "end": {"type": "Number", "value": start + len(ref)}},
        },
    }
    if plain:
        variation["referenceBases"] = ref
    out: dict[str, Any] = {"variantInternalId": row["id"], "variation": variation}
    identifiers = {k: v for k, v in (("genomicHGVSId", row.get("hgvs_g")),
                                     ("transcriptHGVSIds", [row["hgvs_c"]] if row.get("hgvs_c") else None),
                                     ("proteinHGVSIds", [row["hgvs_p"]] if row.get("hgvs_p") else None)) if v}
    if identifiers:
        out["identifiers"] = identifiers
    molecular: dict[str, Any] = {}
    if row.get("gene"):
        molecular["geneIds"] = [row["gene"]]
    change = variants.amino_acid_change(row["hgvs_p"].rpartition(":")[2]) if row.get("hgvs_p") else None
    if change:
        molecular["aminoacidChanges"] = ["".join(change)]
    if row.get("consequence"):
        molecular["molecularEffects"] = [term(row["consequence"], label)]
    if molecular:
        out["molecularAttributes"] = molecular
    case_level = [_case(c, label) for c in calls]
    if case_level:
        out["caseLevelData"] = case_level
    return out


def _case(c: Row, label: Label) -> dict[str, Any]:
    out: dict[str, Any] = {"biosampleId": c["biosample_id"], "individualId": c["individual_id"]}
    if c.get("zygosity"):
        out["zygosity"] = term(c["zygosity"], label)
    if c.get("origin") in ORIGIN:
        code, text = ORIGIN[c["origin"]]
        out["alleleOrigin"] = {"id": code, "label": text}
    return out


def dataset(row: Row) -> dict[str, Any]:
    """A dataset; ``version`` is the content hash of the version every answer used."""
    out: dict[str, Any] = {"id": row["id"], "name": row["title"], "createDateTime": _when(row["created_at"])}
    if row.get("description"):
        out["description"] = row["description"]
    if row.get("content_hash"):
        out["version"] = row["content_hash"]
        out["updateDateTime"] = _when(row["updated_at"])
    return out


def cohort(row: Row, size: int | None, sexes: list[str], diseases: list[str], label: Label) -> dict[str, Any]:
    """A dataset's individuals as a study-defined cohort; ``size`` only where the caller may
    see counts (and the guard let it pass)."""
    out: dict[str, Any] = {"id": row["id"], "name": row["title"], "cohortType": "study-defined"}
    if size is not None:
        out["cohortSize"] = size
    criteria: dict[str, Any] = {}
    if sexes:
        criteria["genders"] = [term(s, label) for s in sexes]
    if diseases:
        criteria["diseaseConditions"] = [{"diseaseCode": term(d, label)} for d in diseases]
    if criteria:
        out["inclusionCriteria"] = criteria
    return out


def _when(at: datetime) -> str:
    return at.isoformat()
