"""Phenopackets v2: the official examples read into the model, broken input is refused with
file and field named, and store → export → read gives the same tables back."""

import json
from datetime import date
from importlib.resources import files as package_files
from pathlib import Path

import duckdb
import pandas as pd
import phenopackets as pp
import pytest
from google.protobuf import json_format

import oncofed
from conftest import CONFORMANCE
from oncofed.errors import IngestError
from oncofed.ingest.batch import Batch
from oncofed.ingest.phenopacket import age_between, duration_of, export, export_to_dir, read, years_of
from oncofed.ingest.reader import IngestContext
from oncofed.privacy.pseudonym import Pseudonymiser

EXAMPLES = CONFORMANCE / "phenopackets"
BROKEN = Path(__file__).parent / "data" / "phenopacket"
ID_COLUMNS = ("id", "individual_id", "biosample_id")


def _resource(prefix: str) -> dict:
    return {"id": prefix.lower(), "name": prefix, "url": f"https://bioregistry.io/{prefix}",
            "version": "test", "namespacePrefix": prefix, "iriPrefix": f"https://bioregistry.io/{prefix}:"}


def _meta(*prefixes: str) -> dict:
    return {"created": "2024-01-01T00:00:00Z", "createdBy": "oncofed tests",
            "phenopacketSchemaVersion": "2.0", "resources": [_resource(p) for p in prefixes]}


def _term(code: str, label: str) -> dict:
    return {"id": code, "label": label}


def _age(duration: str) -> dict:
    return {"age": {"iso8601duration": duration}}


# A case that uses what the official examples leave out: timestamps with a date of birth,
# survival, pathological TNM, tumour/normal material, values, every kind of medical action.
BREAST = _term("UBERON:0000310", "breast")
RICH = {
    "id": "rich-case",
    "subject": {
        "id": "r1", "dateOfBirth": "1970-05-20T00:00:00Z", "sex": "FEMALE",
        "vitalStatus": {"status": "DECEASED", "survivalTimeInDays": 400},
    },
    "phenotypicFeatures": [
        {"type": _term("HP:0002315", "Headache"), "excluded": True, "onset": _age("P49Y3W")},
        {"type": _term("HP:0012378", "Fatigue"), "severity": _term("HP:0012826", "Moderate")},
    ],
    "measurements": [{
        "assay": _term("LOINC:16112-5", "Estrogen receptor [Interpretation] in Tissue"),
        "value": {"ontologyClass": _term("NCIT:C38758", "Positive Finding")},
        "timeObserved": {"timestamp": "2020-08-01T00:00:00Z"},
    }],
    "biosamples": [
        {
            "id": "r1-tumour", "individualId": "r1", "sampledTissue": BREAST,
            "sampleType": _term("NCIT:C12801", "Tissue"),
            "timeOfCollection": {"timestamp": "2020-08-01T00:00:00Z"},
            "histologicalDiagnosis": _term("NCIT:C4017", "Breast Ductal Carcinoma"),
            "tumorGrade": _term("NCIT:C28077", "Grade 2"),
            "pathologicalStage": _term("NCIT:C27966", "Stage IIA"),
            "pathologicalTnmFinding": [_term("NCIT:C48724", "T2 Stage Finding"),
                                       _term("NCIT:C48705", "N0 Stage Finding")],
            "measurements": [{
                "assay": _term("LOINC:85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain"),
                "value": {"quantity": {"unit": _term("UCUM:%", "percent"), "value": 10}},
            }],
            "materialSample": _term("EFO:0009655", "abnormal sample"),
        },
        {"id": "r1-normal", "individualId": "r1", "sampledTissue": _term("UBERON:0000178", "blood"),
         "materialSample": _term("EFO:0009654", "reference sample")},
    ],
    "diseases": [{
        "term": _term("NCIT:C4017", "Breast Ductal Carcinoma"), "onset": _age("P50Y2M5D"),
        "diseaseStage": [_term("NCIT:C27966", "Stage IIA")], "primarySite": BREAST,
        "laterality": _term("HP:0012834", "Right"),
    }],
    "medicalActions": [
        {"procedure": {"code": _term("NCIT:C15251", "Lumpectomy"), "performed": _age("P50Y3M")},
         "treatmentIntent": _term("NCIT:C62220", "Curative Intent")},
        {"treatment": {"agent": _term("ATC:L02BA01", "tamoxifen"), "doseIntervals": [
            {"interval": {"start": "2020-10-01T00:00:00Z", "end": "2021-03-31T00:00:00Z"}},
            {"interval": {"start": "2021-04-01T00:00:00Z", "end": "2021-06-30T00:00:00Z"}},
        ]}},
        {"radiationTherapy": {"modality": _term("NCIT:C15313", "Radiation Therapy"), "bodySite": BREAST,
                              "dosage": 50, "fractions": 25}},
        {"therapeuticRegimen": {"ontologyClass": _term("NCIT:C11197", "AC Regimen"),
                                "startTime": _age("P50Y4M"), "endTime": _age("P50Y6M")}},
    ],
    "metaData": _meta("NCIT", "HP", "UBERON", "LOINC", "ATC", "EFO", "UCUM"),
}


@pytest.fixture
def ctx() -> IngestContext:
    return IngestContext("ds", Pseudonymiser(bytes(32)), country="NL")


@pytest.fixture
def documents(tmp_path) -> dict[str, Path]:
    """The official examples, covid19 with the HP and LOINC resources it lacks, and the rich case."""
    covid = json.loads((EXAMPLES / "covid19.json").read_text())
    covid["metaData"]["resources"] += [_resource("HP"), _resource("LOINC")]
    (tmp_path / "covid19.json").write_text(json.dumps(covid))
    (tmp_path / "rich.json").write_text(json.dumps(RICH))
    return {
        "urothelial": EXAMPLES / "urothelial-carcinoma.json",
        "esophageal": EXAMPLES / "esophageal-squamous-cell-carcinoma.json",
        "covid19": tmp_path / "covid19.json",
        "rich": tmp_path / "rich.json",
    }


def rows(batch: Batch, table: str) -> list[dict]:
    return batch.tables[table].to_pylist() if table in batch.tables else []


# --- the official examples -------------------------------------------------------------------


def test_urothelial_carcinoma_has_stage_tnm_and_five_biosamples(ctx):
    batch = read([EXAMPLES / "urothelial-carcinoma.json"], ctx)
    [person] = rows(batch, "individuals")
    assert (person["sex"], person["year_of_birth"], person["country"]) == ("NCIT:C20197", 1964, "NL")
    [disease] = rows(batch, "diseases")
    assert disease["individual_id"] == person["id"]
    assert (disease["code"], disease["label"]) == ("NCIT:C39853", "Infiltrating Urothelial Carcinoma")
    assert (disease["stage"], disease["stage_basis"]) == ("NCIT:C27971", "clinical")
    assert (disease["t_category"], disease["n_category"], disease["m_category"]) == (
        "NCIT:C48766", "NCIT:C48750", "NCIT:C48700")
    samples = {s["sampled_tissue"]: s for s in rows(batch, "biosamples")}
    assert len(samples) == 5
    assert {s["individual_id"] for s in samples.values()} == {person["id"]}
    left_ureter = samples["UBERON:0001223"]
    assert (left_ureter["tumour_normal"], left_ureter["histology"]) == ("normal", "NCIT:C38757")
    assert [s["tumour_normal"] for s in samples.values()] == ["tumour", "tumour", "normal", "normal", "tumour"]
    assert samples["UBERON:0002367"]["grade"] == "NCIT:C28091"
    assert samples["UBERON:0001256"]["procedure"] == "NCIT:C5189"
    assert samples["UBERON:0001256"]["collection_age"] == pytest.approx(52 + 2 / 12)
    severe = [f for f in rows(batch, "phenotypic_features") if f["code"] == "HP:0100518"]
    assert severe[0]["severity"] == "HP:0012828"
    assert batch.terms["UBERON:0001223"] == "left ureter"


def test_esophageal_marker_is_a_measurement_of_its_biosample(ctx):
    batch = read([EXAMPLES / "esophageal-squamous-cell-carcinoma.json"], ctx)
    [person] = rows(batch, "individuals")
    assert person["sex"] == "NCIT:C17998"  # not stated is unknown
    [disease] = rows(batch, "diseases")
    assert (disease["t_category"], disease["n_category"], disease["m_category"]) == (
        "NCIT:C48724", "NCIT:C48706", "NCIT:C48699")
    [marker] = rows(batch, "measurements")
    lymph_node = next(s for s in rows(batch, "biosamples") if s["sampled_tissue"] == "NCIT:C139196")
    assert (marker["code"], marker["biosample_id"]) == ("NCIT:C131711", lymph_node["id"])
    assert marker["value"] is None and marker["value_code"] is None


def test_covid19_is_refused_because_hp_has_no_resource(ctx):
    # The upstream file uses HP and LOINC terms without resources for them, which the spec
    # requires ("MUST have one Resource element for each ontology"); the first is reported.
    with pytest.raises(IngestError) as caught:
        read([EXAMPLES / "covid19.json"], ctx)
    error = caught.value
    assert (error.field, error.record) == ("phenotypicFeatures[0].type.id", "arbitrary.phenopacket.id")
    assert "covid19.json" in str(error) and "'HP'" in str(error)


def test_covid19_maps_death_diagnoses_measurements_and_actions(ctx, documents):
    batch = read([documents["covid19"]], ctx)
    [person] = rows(batch, "individuals")
    assert (person["vital_status"], person["sex"], person["followup_days"]) == ("NCIT:C28554", "NCIT:C20197", None)
    assert rows(batch, "outcomes") == []  # no survival time given
    diseases = {d["code"]: d for d in rows(batch, "diseases")}
    assert set(diseases) == {"MONDO:0004994", "MONDO:0100096"}  # excluded diabetes is skipped
    assert diseases["MONDO:0100096"]["diagnosis_year"] == 2020
    assert diseases["MONDO:0100096"]["age_at_diagnosis"] is None  # no date of birth
    assert len(rows(batch, "phenotypic_features")) == 11
    lymphocytes = next(m for m in rows(batch, "measurements") if m["code"] == "LOINC:26474-7")
    assert (lymphocytes["value"], lymphocytes["unit"]) == (0.7, "NCIT:C67245")
    treatments = rows(batch, "treatments")
    assert len(treatments) == 6
    assert {t["agent"] for t in treatments if t["type"] == "NCIT:C15329"} == {"NCIT:C80473", "NCIT:C116648"}
    assert [t["agent_label"] for t in treatments if t["agent"] == "NCIT:C722"] == ["Oxygen", "Oxygen"]


def test_raw_identifiers_never_reach_the_batch(ctx, documents):
    raw = {"patient1", "sample1", "sample2", "sample3", "sample4", "sample5", "example case",
           "esophageal-scc-example", "P123542", "arbitrary.phenopacket.id", "r1", "r1-tumour", "rich-case"}
    for name in ("urothelial", "esophageal", "covid19", "rich"):
        batch = read([documents[name]], ctx)
        values = {str(v) for t in batch.tables.values() for col in t.to_pydict().values() for v in col}
        values |= set(batch.terms) | set(batch.terms.values())
        assert not raw & values, name


# --- mapping details -------------------------------------------------------------------------


def test_timestamps_become_ages_through_the_date_of_birth(ctx, documents):
    batch = read([documents["rich"]], ctx)
    tumour = next(s for s in rows(batch, "biosamples") if s["tumour_normal"] == "tumour")
    assert tumour["collection_age"] == age_between(date(1970, 5, 20), date(2020, 8, 1))
    assert tumour["collection_age"] == 50 + 2 / 12 + 12 / 365.25
    tamoxifen = next(t for t in rows(batch, "treatments") if t["agent"] == "ATC:L02BA01")
    assert tamoxifen["type"] == "NCIT:C15445"  # ATC L02: hormone therapy
    assert tamoxifen["start_age"] == 50 + 4 / 12 + 11 / 365.25
    assert tamoxifen["end_age"] == 51 + 1 / 12 + 10 / 365.25


def test_survival_pathological_tnm_and_material_are_mapped(ctx, documents):
    batch = read([documents["rich"]], ctx)
    [person] = rows(batch, "individuals")
    assert (person["followup_days"], person["vital_status"]) == (400, "NCIT:C28554")
    assert rows(batch, "outcomes") == [
        {"individual_id": person["id"], "endpoint": "NCIT:C125201", "days": 400, "event": True}]
    samples = {s["tumour_normal"]: s for s in rows(batch, "biosamples")}
    assert samples["normal"]["sampled_tissue"] == "UBERON:0000178"
    ptnm = {m["code"]: m["value_code"] for m in rows(batch, "measurements")
            if m["biosample_id"] == samples["tumour"]["id"] and m["code"] != "LOINC:85319-2"}
    assert ptnm == {"LOINC:21899-0": "NCIT:C48724", "LOINC:21900-6": "NCIT:C48705"}
    actions = {t["type"]: t for t in rows(batch, "treatments")}
    assert actions["NCIT:C15313"]["agent"] is None  # the modality names the type only
    assert actions["NCIT:C15329"]["intent"] == "NCIT:C62220"
    assert (actions["NCIT:C15632"]["agent"], actions["NCIT:C15632"]["end_age"]) == ("NCIT:C11197", 50.5)
    [excluded] = [f for f in rows(batch, "phenotypic_features") if f["excluded"]]
    assert excluded["onset_age"] == 49 + 21 / 365.25


@pytest.mark.parametrize("duration, years", [
    ("P52Y2M", 52 + 2 / 12), ("P3W", 21 / 365.25), ("P1.5Y", 1.5), ("PT36H", 1.5 / 365.25), ("P0D", 0.0),
])
def test_iso_durations_are_years(duration, years):
    assert years_of(duration) == pytest.approx(years)


@pytest.mark.parametrize("text", ["52 years", "P", "PT", "P1Y2", "-P1Y"])
def test_a_bad_duration_is_none(text):
    assert years_of(text) is None


def test_calendar_ages_survive_a_trip_through_durations():
    born = date(1964, 1, 31)
    for offset in range(0, 30_000, 7):
        when = date.fromordinal(born.toordinal() + offset)
        years = age_between(born, when)
        assert years_of(duration_of(years)) == years, when


def test_files_arrays_cohorts_and_folders_make_one_batch(ctx, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    a, b, c = ({**RICH, "id": f"case-{n}", "subject": {"id": f"s{n}"}, "biosamples": []} for n in "abc")
    (folder / "array.json").write_text(json.dumps([a, b]))
    (folder / "cohort.json").write_text(json.dumps({"id": "cohort", "members": [{**c, "metaData": None}],
                                                    "metaData": RICH["metaData"]}))
    (folder / "notes.txt").write_text("not read")
    calls = []
    ctx.progress = lambda **kw: calls.append(kw)
    batch = read([folder], ctx)
    assert len(rows(batch, "individuals")) == 3
    assert calls == [{"advance": 1, "total": 2}] * 2
    assert [s.name for s in batch.sources] == ["array.json", "cohort.json"]


def test_one_subject_in_two_phenopackets_is_refused(ctx):
    both = [EXAMPLES / "urothelial-carcinoma.json", EXAMPLES / "esophageal-squamous-cell-carcinoma.json"]
    with pytest.raises(IngestError, match="already read from .*urothelial-carcinoma.json") as caught:
        read(both, ctx)
    assert caught.value.field == "subject.id"


# --- broken input ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, where, says", [
    ("truncated.json", {"line": 11}, "not valid JSON at column 18"),
    ("unknown-field.json", {"field": "subject.sexx", "record": "case-unknown-field"}, "expected one of id,"),
    ("missing-subject-id.json", {"field": "subject.id", "record": "case-no-subject-id"}, "needs an id"),
    ("missing-resource.json", {"field": "phenotypicFeatures[0].type.id"}, "prefix 'HP' has no entry"),
    ("wrong-type.json", {"field": "subject.dateOfBirth", "record": "case-wrong-type"}, "RFC 3339 timestamp"),
    ("bad-duration.json", {"field": "diseases[0].onset.age.iso8601duration"}, "got '52 years'"),
    ("array-member-without-id.json", {"field": "id", "record": "[1]"}, "needs an id"),
    ("unknown-tnm-category.json", {"field": "diseases[0].clinicalTnmFinding[1].label"}, "T, N or M"),
])
def test_broken_input_names_file_and_place(ctx, name, where, says):
    with pytest.raises(IngestError) as caught:
        read([BROKEN / name], ctx)
    error = caught.value
    assert error.file == str(BROKEN / name) and name in str(error)
    assert {k: getattr(error, k) for k in where} == where
    assert says in str(error)


@pytest.mark.parametrize("change, field, expected", [
    ({"subject": {"id": "r1", "vitalStatus": {"survivalTimeInDays": -3}}},
     "subject.vitalStatus.survivalTimeInDays", "a whole number, 0 or more"),
    ({"subject": {"id": "r1", "sex": "F"}}, "subject.sex", "one of UNKNOWN_SEX, FEMALE, MALE, OTHER_SEX"),
    ({"biosamples": [RICH["biosamples"][1], {"id": "b", "sampledTissue": {"id": "UBERON:1", "labl": "x"}}]},
     "biosamples[1].sampledTissue.labl", "one of id, label"),
    ({"diseases": "none"}, "diseases", "a JSON list"),
])
def test_a_protobuf_error_names_the_field_and_the_form_expected(ctx, tmp_path, change, field, expected):
    (tmp_path / "bad.json").write_text(json.dumps({**RICH, **change}))
    with pytest.raises(IngestError) as caught:
        read([tmp_path / "bad.json"], ctx)
    error = caught.value
    assert (error.field, error.expected, error.record) == (field, expected, "rich-case")


@pytest.mark.parametrize("atc, kind", [
    ("ATC:L01EA01", "ONCOFED:targeted_therapy"), ("ATC:L01FF01", "NCIT:C15262"), ("ATC:L01XA01", "NCIT:C15632"),
    ("ATC:L02BG03", "NCIT:C15445"), ("ATC:A04AA01", "NCIT:C15632"),
])
def test_a_drug_is_typed_by_its_atc_class(ctx, tmp_path, atc, kind):
    doc = {**RICH, "medicalActions": [{"treatment": {"agent": _term(atc, "a drug")}}]}
    (tmp_path / "drug.json").write_text(json.dumps(doc))
    [treatment] = rows(read([tmp_path / "drug.json"], ctx), "treatments")
    assert (treatment["type"], treatment["agent"]) == (kind, atc)


def test_an_empty_folder_is_refused(ctx, tmp_path):
    with pytest.raises(IngestError, match="no .json files") as caught:
        read([tmp_path], ctx)
    assert caught.value.file == str(tmp_path)


def test_a_missing_file_is_refused(ctx, tmp_path):
    with pytest.raises(IngestError, match="no such file") as caught:
        read([tmp_path / "gone.json"], ctx)
    assert caught.value.file == str(tmp_path / "gone.json")


# --- export and round trip -------------------------------------------------------------------


def store(batch: Batch, dataset_id: str = "ds", con: duckdb.DuckDBPyConnection | None = None):
    """An in-memory node store holding the batch, as the store will hold it."""
    if con is None:
        con = duckdb.connect()
        con.execute((package_files("oncofed.store") / "migrations" / "0001_initial.sql").read_text())
    for name, table in batch.tables.items():
        columns = ", ".join(table.column_names)
        con.register("incoming", table)
        con.execute(f"INSERT INTO {name} (dataset_id, {columns}) SELECT ?, {columns} FROM incoming", [dataset_id])
        con.unregister("incoming")
    con.executemany("INSERT OR IGNORE INTO terms VALUES (?, ?)", list(batch.terms.items()))
    return con


def without_ids(batch: Batch, table: str) -> pd.DataFrame:
    frame = batch.tables[table].to_pandas()
    frame = frame.drop(columns=[c for c in ID_COLUMNS if c in frame.columns])
    return frame.sort_values(list(frame.columns), na_position="first", ignore_index=True)


@pytest.mark.parametrize("name", ["urothelial", "esophageal", "covid19", "rich"])
def test_export_then_read_gives_the_same_tables(ctx, documents, tmp_path, name):
    first = read([documents[name]], ctx)
    exported = export_to_dir(store(first), "ds", tmp_path / "out")
    assert len(exported) == 1
    for path in exported:
        json_format.Parse(path.read_text(), pp.Phenopacket())  # strict: unknown fields fail
    second = read(exported, ctx)
    assert set(second.tables) == set(first.tables)
    for table in first.tables:
        pd.testing.assert_frame_equal(without_ids(second, table), without_ids(first, table), obj=table)
    # ids are pseudonymised again, but still link the same records
    people = {r["id"] for r in rows(second, "individuals")}
    samples = {r["id"] for r in rows(second, "biosamples")}
    assert {r["individual_id"] for t in second.tables if t != "individuals" for r in rows(second, t)} <= people
    assert {r["biosample_id"] for r in rows(second, "measurements")} - {None} <= samples
    assert not people & {r["id"] for r in rows(first, "individuals")}


def test_exported_phenopacket_is_pseudonymous_and_names_its_resources(ctx):
    batch = read([EXAMPLES / "urothelial-carcinoma.json"], ctx)
    con = store(batch)
    store(read([EXAMPLES / "esophageal-squamous-cell-carcinoma.json"], ctx), "other", con)
    [doc] = export(con, "ds")
    [person] = rows(batch, "individuals")
    assert doc["id"] == doc["subject"]["id"] == person["id"]
    assert {b["id"] for b in doc["biosamples"]} == {b["id"] for b in rows(batch, "biosamples")}
    assert "patient1" not in json.dumps(doc)
    meta = doc["metaData"]
    assert (meta["createdBy"], meta["phenopacketSchemaVersion"]) == (f"oncofed {oncofed.__version__}", "2.0")
    assert meta["created"].endswith("Z")
    assert {r["namespacePrefix"] for r in meta["resources"]} == {"NCIT", "HP", "UBERON", "EFO"}
    assert doc["subject"]["dateOfBirth"] == "1964-01-01T00:00:00Z"  # the year only, as stored
    assert doc["biosamples"][0]["timeOfCollection"] == {"age": {"iso8601duration": "P52Y2M"}}


def test_export_labels_come_from_terms_then_the_vocabulary_then_the_code(ctx):
    con = store(read([EXAMPLES / "urothelial-carcinoma.json"], ctx))
    con.execute("DELETE FROM terms WHERE id IN ('UBERON:0001223', 'NCIT:C5596')")
    [doc] = export(con, "ds")
    tissues = {b["sampledTissue"]["id"]: b["sampledTissue"]["label"] for b in doc["biosamples"]}
    assert tissues["UBERON:0001223"] == "UBERON:0001223"
    assert tissues["UBERON:0001222"] == "right ureter"
    prostate = next(b for b in doc["biosamples"] if b["sampledTissue"]["id"] == "UBERON:0002367")
    assert prostate["histologicalDiagnosis"]["label"] == "Prostate Acinar Adenocarcinoma"


def test_an_unknown_dataset_exports_nothing(ctx):
    assert export(store(read([EXAMPLES / "urothelial-carcinoma.json"], ctx)), "nope") == []
