"""The FHIR R4 reader, on the HL7 mCODE STU4 examples and on a synthetic fixture (see
data/fhir/README.md) covering the resource types those examples lack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CONFORMANCE
from oncofed.errors import IngestError
from oncofed.ingest import fhir
from oncofed.ingest.batch import Batch
from oncofed.ingest.reader import IngestContext
from oncofed.privacy.pseudonym import Pseudonymiser

MCODE = CONFORMANCE / "mcode"
MCODE_BUNDLE = MCODE / "Bundle-mcode-patient-bundle-john-anyperson.json"
MCODE_SINGLES = [
    MCODE / "Patient-cancer-patient-john-anyperson.json",
    MCODE / "Condition-primary-cancer-condition-nsclc.json",
    MCODE / "Observation-tnm-clinical-stage-group-3c.json",
]
DATA = Path(__file__).parent / "data" / "fhir"
SYNTHETIC = DATA / "synthetic" / "Bundle-synthetic-breast-cancer.json"
SYNTHETIC_NDJSON = DATA / "synthetic" / "ndjson"
BROKEN = DATA / "broken"

DATASET = "test-fhir"


@pytest.fixture
def ctx() -> IngestContext:
    return IngestContext(DATASET, Pseudonymiser(bytes(32)), country="NL")


def rows(batch: Batch, table: str) -> list[dict]:
    return batch.tables[table].to_pylist() if table in batch.tables else []


def one(batch: Batch, table: str, **match) -> dict:
    found = [r for r in rows(batch, table) if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (table, match, found)
    return found[0]


def unordered(table_rows: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in table_rows)


def everything(batch: Batch) -> str:
    return json.dumps({"tables": {n: rows(batch, n) for n in batch.tables}, "terms": batch.terms})


# --- the mCODE examples -------------------------------------------------------------------

def test_mcode_stage_and_tnm_categories_end_up_on_the_disease_row(ctx):
    batch = fhir.read([MCODE_BUNDLE], ctx)
    nsclc = one(batch, "diseases", code="SNOMEDCT:254637007")
    assert nsclc["stage"] == "SNOMEDCT:1222806003"
    assert "IIIC" in batch.terms["SNOMEDCT:1222806003"]
    assert nsclc["stage_basis"] == "clinical"
    assert nsclc["stage_system"] == "NCIT:C132248"  # the method, SNOMED CT's "AJCC 8th edition"
    assert batch.terms["NCIT:C132248"] == "AJCC v8 Stage"
    assert (nsclc["t_category"], nsclc["n_category"], nsclc["m_category"]) == (
        "SNOMEDCT:1228938002", "SNOMEDCT:1229984001", "SNOMEDCT:1229901006")
    assert [batch.terms[nsclc[c]].split()[-3] for c in ("t_category", "n_category", "m_category")] == [
        "cT3", "cN3", "cM0"]


def test_mcode_condition_keeps_site_laterality_morphology_and_diagnosis_age(ctx):
    nsclc = one(fhir.read([MCODE_BUNDLE], ctx), "diseases", code="SNOMEDCT:254637007")
    assert nsclc["label"] == "Non-small cell lung cancer (disorder)"
    assert nsclc["primary_site"] == "SNOMEDCT:39607008"
    assert nsclc["laterality"] == "SNOMEDCT:7771000"  # left
    assert nsclc["morphology"] == "SNOMEDCT:1187332001"  # adenocarcinoma, as the source codes it
    assert nsclc["diagnosis_year"] == 2019
    assert nsclc["age_at_diagnosis"] == pytest.approx(68.19, abs=0.01)  # born 1951-01-20, onset 2019-04-01


def test_mcode_patient_becomes_a_pseudonymous_individual(ctx):
    batch = fhir.read([MCODE_BUNDLE], ctx)
    (person,) = rows(batch, "individuals")
    assert person["id"] == ctx.pseudonym("cancer-patient-john-anyperson")
    assert (person["sex"], person["year_of_birth"], person["country"]) == ("NCIT:C20197", 1951, "US")
    assert person["vital_status"] is None  # the source does not say
    assert {r["individual_id"] for t in ("diseases", "measurements") for r in rows(batch, t)} == {person["id"]}


def test_mcode_disease_status_and_staging_observations_are_measurements(ctx):
    batch = fhir.read([MCODE_BUNDLE], ctx)
    status = one(batch, "measurements", code="LOINC:97509-4")
    assert status["value_code"] == "SNOMEDCT:268910001"  # improved
    assert status["label"] == "Cancer Disease Progression"  # the source gives none: the vocabulary's
    assert one(batch, "measurements", code="SNOMEDCT:399537006")["value_code"] == "SNOMEDCT:1222806003"


@pytest.mark.parametrize("source", [[MCODE_BUNDLE], [SYNTHETIC], [SYNTHETIC_NDJSON]])
def test_raw_identifiers_names_and_dates_are_stored_nowhere(ctx, source):
    stored = everything(fhir.read(source, ctx))
    for raw in ["cancer-patient-john-anyperson", "Anyperson", "John", "m123", "555-555-5555",
                "example.com", "123 Main St", "Anydoc", "1951-01-20", "2019-04-01",
                "synthetic-patient-1", "synthetic-specimen-1", "SYN-0001", "SYN-SPEC-0001",
                "Testperson", "Synthetica", "Example Street", "1960-05-10", "2023-02-14"]:
        assert raw not in stored


def test_single_resource_files_give_the_same_facts_as_the_bundle(ctx):
    bundle, singles = fhir.read([MCODE_BUNDLE], ctx), fhir.read(MCODE_SINGLES, ctx)
    assert rows(singles, "individuals") == rows(bundle, "individuals")
    (from_singles,), (from_bundle,) = rows(singles, "diseases"), rows(bundle, "diseases")
    # The T, N and M Observations are only in the bundle: the single files lack them.
    tnm = ("t_category", "n_category", "m_category")
    assert {k: v for k, v in from_singles.items() if k not in tnm} == {
        k: v for k, v in from_bundle.items() if k not in tnm}
    assert [from_singles[c] for c in tnm] == [None, None, None]


def test_a_resource_read_twice_counts_once(ctx):
    whole_folder = fhir.read([MCODE], ctx)  # the bundle and the same resources on their own
    bundle = fhir.read([MCODE_BUNDLE], ctx)
    assert whole_folder.counts() == bundle.counts()
    assert rows(whole_folder, "diseases") == rows(bundle, "diseases")


def test_two_different_versions_of_a_resource_are_an_error(ctx, tmp_path):
    patient = json.loads(MCODE_SINGLES[0].read_text())
    changed = tmp_path / "patient-changed.json"
    changed.write_text(json.dumps({**patient, "birthDate": "1952-01-20"}))
    with pytest.raises(IngestError, match="differs from Patient/cancer-patient-john-anyperson"):
        fhir.read([MCODE_BUNDLE, changed], ctx)


def test_progress_is_reported_per_file_and_skipped_resources_are_named(tmp_path):
    calls: list[dict] = []
    ctx = IngestContext(DATASET, Pseudonymiser(bytes(32)), progress=lambda **kw: calls.append(kw))
    fhir.read(MCODE_SINGLES, ctx)
    assert calls[:3] == [{"advance": 1, "total": 3}] * 3
    calls.clear()
    fhir.read([MCODE_BUNDLE], ctx)
    assert calls[-1] == {"description": "FHIR resources skipped: Practitioner ×1"}


# --- the synthetic fixture ----------------------------------------------------------------

@pytest.fixture
def synthetic(ctx) -> Batch:
    return fhir.read([SYNTHETIC], ctx)


def test_pathological_stage_group_wins_and_its_members_give_the_categories(synthetic):
    cancer = one(synthetic, "diseases", code="SNOMEDCT:254837009")
    assert (cancer["stage"], cancer["stage_basis"]) == ("AJCC:IIB", "pathological")
    assert (cancer["t_category"], cancer["n_category"]) == ("AJCC:pT2", "AJCC:pN1")  # not the cT1


def test_a_category_linked_to_no_condition_goes_to_the_patients_only_cancer(synthetic):
    assert one(synthetic, "diseases", code="SNOMEDCT:254837009")["m_category"] == "AJCC:cM0"


def test_icd_codings_fill_the_secondary_disease_columns(synthetic):
    cancer = one(synthetic, "diseases", code="SNOMEDCT:254837009")
    assert cancer["icd10"] == "ICD10:C50.4"
    assert cancer["topography"] == "ICDO3:C50.4"
    assert cancer["morphology"] == "ICDO3:8500/3"
    assert cancer["laterality"] == "SNOMEDCT:24028007"  # right
    assert cancer["age_at_diagnosis"] == pytest.approx(59.81, abs=0.01)


def test_comorbidities_are_diseases_too_and_refuted_ones_are_not(synthetic):
    hypertension = one(synthetic, "diseases", code="SNOMEDCT:38341003")
    assert hypertension["diagnosis_year"] == 2015  # a year-only onset
    assert hypertension["stage"] is None
    assert "SNOMEDCT:363406005" not in {r["code"] for r in rows(synthetic, "diseases")}


def test_treatments_are_typed_by_procedure_category_and_drug_class(synthetic):
    by_agent = {r["agent"]: r for r in rows(synthetic, "treatments")}
    assert {agent: r["type"] for agent, r in by_agent.items()} == {
        "SNOMEDCT:64368001": "NCIT:C15329",  # partial mastectomy: surgery
        "SNOMEDCT:1217123003": "NCIT:C15313",  # radiotherapy course
        "ATC:L02BA01": "NCIT:C15445",  # tamoxifen (MedicationStatement): hormone therapy
        "ATC:L01FD01": "ONCOFED:targeted_therapy",  # trastuzumab (MedicationRequest → Medication): targeted
        "RXNORM:3639": "NCIT:C15632",  # doxorubicin (MedicationAdministration, contained): chemo
    }
    radiotherapy = by_agent["SNOMEDCT:1217123003"]
    assert radiotherapy["start_age"] < radiotherapy["end_age"]
    assert radiotherapy["intent"] == "SNOMEDCT:373808002"  # curative
    assert by_agent["ATC:L02BA01"]["agent_label"] == "tamoxifen"


def test_diagnostic_procedures_and_non_cancer_drugs_are_skipped_and_reported(ctx):
    calls: list[dict] = []
    ctx.progress = lambda **kw: calls.append(kw)
    batch = fhir.read([SYNTHETIC], ctx)
    agents = {r["agent"] for r in rows(batch, "treatments")}
    assert "SNOMEDCT:71651007" not in agents and "ATC:N02BE01" not in agents
    report = calls[-1]["description"]
    for skipped in ["Procedure (diagnostic) ×1", "MedicationStatement (not an antineoplastic by ATC) ×1",
                    "Observation (cancelled) ×1", "Condition (refuted) ×1", "Organization ×1"]:
        assert skipped in report


def test_tumour_markers_and_labs_become_measurements(ctx, synthetic):
    er = one(synthetic, "measurements", code="LOINC:85337-4")
    assert (er["value_code"], er["value_label"]) == ("LOINC:LA6576-8", "Positive")
    assert er["biosample_id"] == ctx.pseudonym("synthetic-specimen-1", namespace=f"{DATASET}/biosample")
    cea = one(synthetic, "measurements", code="LOINC:2039-6")
    assert (cea["value"], cea["unit"]) == (2.1, "UCUM:ng/mL")
    ca153 = one(synthetic, "measurements", code="LOINC:6875-9")
    assert (ca153["value"], ca153["value_label"]) == (None, "<5")  # a bound, not a value
    assert one(synthetic, "measurements", code="LOINC:89247-1")["value"] == 1  # ECOG


def test_specimen_becomes_a_biosample_with_its_own_pseudonym(ctx, synthetic):
    (sample,) = rows(synthetic, "biosamples")
    assert sample["id"] == ctx.pseudonym("synthetic-specimen-1", namespace=f"{DATASET}/biosample")
    assert sample["individual_id"] == ctx.pseudonym("synthetic-patient-1")
    assert (sample["sample_type"], sample["sampled_tissue"]) == ("SNOMEDCT:119376003", "SNOMEDCT:76752008")
    assert sample["collection_age"] == pytest.approx(59.93, abs=0.01)


def test_death_gives_vital_status_follow_up_and_an_overall_survival_event(synthetic):
    (person,) = rows(synthetic, "individuals")
    assert (person["sex"], person["year_of_birth"], person["country"]) == ("NCIT:C16576", 1960, "DE")
    assert person["vital_status"] == "NCIT:C28554"
    assert person["followup_days"] == 1079  # 2020-03-02 → 2023-02-14
    assert rows(synthetic, "outcomes") == [{"individual_id": person["id"], "endpoint": "NCIT:C125201",
                                            "days": 1079, "event": True}]


def test_bulk_export_ndjson_gives_the_same_rows_as_the_transaction_bundle(ctx, synthetic):
    exported = fhir.read([SYNTHETIC_NDJSON], ctx)  # plain Type/id references, one file per type
    assert exported.counts() == synthetic.counts()
    for table in synthetic.tables:
        assert unordered(rows(exported, table)) == unordered(rows(synthetic, table))
    assert exported.terms == synthetic.terms


def test_a_resource_about_a_group_is_skipped_not_failed(ctx, tmp_path):
    about_a_group = tmp_path / "group-observation.json"
    about_a_group.write_text(json.dumps({
        "resourceType": "Observation", "id": "cohort-size", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2039-6"}]},
        "subject": {"reference": "Group/cohort"}}))
    assert fhir.read([about_a_group], ctx).counts() == {}


# --- broken inputs ------------------------------------------------------------------------

@pytest.mark.parametrize("name, where", [
    ("truncated.json", ["line 80", "not valid JSON"]),
    ("condition-invalid-type.json", ["Condition/broken-condition (entry 1)", "field 'code'", "CodeableConcept"]),
    ("observation-without-code.json", ["Observation/broken-observation", "field 'code'", "required"]),
    ("missing-patient.json", ["Condition/orphan-condition", "field 'subject'", "Patient/nobody-here"]),
    ("bad-line-3.ndjson", ["line 3", "not valid JSON"]),
    ("unknown-resource-type.json", ["TumourBoard/broken-unknown-type", "field 'resourceType'", "'TumourBoard'"]),
])
def test_broken_input_raises_an_error_naming_file_and_place(ctx, name, where):
    with pytest.raises(IngestError) as caught:
        fhir.read([BROKEN / name], ctx)
    message = str(caught.value)
    assert caught.value.file == str(BROKEN / name)
    for part in where:
        assert part in message


def test_an_error_anywhere_stores_nothing(ctx):
    with pytest.raises(IngestError, match="missing-patient.json"):
        fhir.read([SYNTHETIC, BROKEN / "missing-patient.json"], ctx)
