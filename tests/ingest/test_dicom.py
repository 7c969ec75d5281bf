"""DICOM ingest on the test files that ship inside pydicom's wheel (CT, MR, SEG, a DICOMDIR set,
deliberately broken files): metadata, de-identification by the PS3.15 Basic Profile, UID
remapping, burned-in annotation, and bad input refused or skipped with nothing half-stored."""

import json
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from conftest import sha256
from oncofed.errors import IngestError
from oncofed.ingest.pipeline import ingest
from oncofed.node import home
from oncofed.privacy import deidentify

FILES = Path(pydicom.data.__file__).parent / "test_files"
CT, MR, SEG, US = FILES / "CT_small.dcm", FILES / "MR_small.dcm", FILES / "liver_1frame.dcm", FILES / "examples_ybr_color.dcm"
DICOMDIR_SET = FILES / "dicomdirtests"  # DICOMDIRs and the CR/CT/MR instances they reference
MR_STUDY = FILES / "dicomdirtests" / "98892003"  # one patient, MR series of three studies
TRUNCATED, NOT_DICOM = FILES / "MR_truncated.dcm", FILES / "README.txt"
GOOD = [CT, MR, SEG, MR_STUDY]


def rows(node, sql, params=()):
    with node.store() as store:
        return store.con.execute(sql, list(params)).fetchall()


def copies(node) -> dict[str, Path]:
    """The stored copies by their (new) SOP Instance UID."""
    return {f.stem: f for f in (node.path / "imaging").rglob("*.dcm")}


def read(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def no_patient_id(tmp_path) -> Path:
    ds = read(CT)
    del ds.PatientID
    out = tmp_path / "no-patient-id.dcm"
    ds.save_as(out)
    return out


def test_the_files_ship_with_pydicom():
    for f in (CT, MR, SEG, US, TRUNCATED, DICOMDIR_SET / "DICOMDIR"):
        assert f.is_file(), f"{f} is not in the installed pydicom wheel"


def test_ct_mr_and_seg_become_studies_and_series_of_their_patients(node):
    result = ingest(node, "ds", "dicom", [CT, MR, SEG])
    assert result.counts["imaging_series"] == 3 and result.counts["imaging_studies"] == 3
    series = rows(node, "SELECT modality, manufacturer, slice_thickness, image_count FROM imaging_series ORDER BY modality")
    assert series == [("CT", "GE MEDICAL SYSTEMS", 5.0, 1), ("MR", "TOSHIBA_MEC", 0.8, 1), ("SEG", "QIICR", None, 1)]
    patients = {node.pseudonyms.one("ds", str(read(f).PatientID)) for f in (CT, MR, SEG)}
    assert {r[0] for r in rows(node, "SELECT id FROM individuals")} == patients
    assert rows(node, "SELECT age FROM imaging_studies WHERE modality = 'SEG'") == [(60.0,)]  # PatientAge 060Y


def test_a_dicomdir_set_is_read_through_its_directory(node):
    result = ingest(node, "ds", "dicom", [DICOMDIR_SET / "DICOMDIR"])
    referenced = {p.resolve() for p in DICOMDIR_SET.rglob("*") if p.is_file() and p.parent != DICOMDIR_SET
                  and "TINY_ALPHA" not in p.parts and p.name != "README.txt"}
    assert sum(n for (n,) in rows(node, "SELECT image_count FROM imaging_series")) == len(referenced)
    assert result.counts["individuals"] == 2  # PatientIDs 77654033 and 98890234
    assert set(r[0] for r in rows(node, "SELECT DISTINCT modality FROM imaging_series")) == {"CR", "CT", "MR"}


def test_no_basic_profile_attribute_keeps_its_original_value(node):
    """The acceptance test: in the copies and in the metadata, no attribute of PS3.15 Table E.1-1
    keeps a non-empty original value (the profile's dummy value for Patient's Name and ID is the
    pseudonym), and no private attribute survives."""
    originals = [CT, MR, SEG, *sorted(p for p in MR_STUDY.rglob("*") if p.is_file())]
    ingest(node, "ds", "dicom", [CT, MR, SEG, MR_STUDY])
    stored = copies(node)
    assert len(stored) == len(originals)
    metadata = {v for table in ("individuals", "imaging_studies", "imaging_series")  # every stored text
                for row in rows(node, f"SELECT * FROM {table}") for v in row if isinstance(v, str)}
    checked = 0
    for path in originals:
        before = read(path)
        new_sop = deidentify.new_uid(node.pseudonyms.one("ds/dicom-uid", str(before.SOPInstanceUID)))
        after = read(stored[new_sop])
        values_after: dict[int, set[str]] = {}
        for elem in after.iterall():
            values_after.setdefault(int(elem.tag), set()).add(str(elem.value))
            assert not elem.tag.is_private
        for elem in before.iterall():
            if not deidentify.listed(int(elem.tag)) or elem.VR == "SQ" or elem.value in (None, "", b""):
                continue
            original = str(elem.value)
            assert original not in values_after.get(int(elem.tag), set()), f"{path.name}: {elem.keyword} kept"
            assert original not in metadata, f"{path.name}: {elem.keyword} in the metadata"
            checked += 1
        assert after.PatientIdentityRemoved == "YES"
        assert after.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert checked > 200  # names, ids, dates, UIDs, institutions … really were there to remove


def test_uids_map_consistently_across_a_study_and_cannot_be_recomputed_elsewhere(node, tmp_path):
    ingest(node, "ds", "dicom", [MR_STUDY])
    before = [read(p) for p in sorted(MR_STUDY.rglob("*")) if p.is_file()]
    after = {str(d.SOPInstanceUID): d for d in map(read, copies(node).values())}
    mapping: dict[str, set[str]] = {}
    for b in before:
        a = after[deidentify.new_uid(node.pseudonyms.one("ds/dicom-uid", str(b.SOPInstanceUID)))]
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
            if keyword in b:
                mapping.setdefault(str(b[keyword].value), set()).add(str(a[keyword].value))
                assert str(a[keyword].value) != str(b[keyword].value)
                assert str(a[keyword].value).startswith("2.25.")
    assert all(len(new) == 1 for new in mapping.values())  # one original UID, one new UID
    assert len({next(iter(v)) for v in mapping.values()}) == len(mapping)  # and never two originals to one
    studies = {r[0] for r in rows(node, "SELECT id FROM imaging_studies")}
    assert studies == {next(iter(mapping[str(b.StudyInstanceUID)])) for b in before}
    other = home.init(tmp_path / "other", "other", "DE")
    with other.store() as store:
        store.add_dataset("ds", "same dataset id, another node secret")
    ingest(other, "ds", "dicom", [MR_STUDY])
    assert {r[0] for r in rows(other, "SELECT id FROM imaging_studies")}.isdisjoint(studies)


def test_a_patient_map_links_images_to_the_clinical_record(node, tmp_path):
    table = tmp_path / "clinical.csv"
    table.write_text("pid,sex\nP-17,2\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text('individuals:\n  id: {column: pid}\n  sex: {column: sex, map: {2: "NCIT:C16576"}}\n')
    ingest(node, "ds", "csv", [table], mapping=mapping)
    patients = tmp_path / "patients.tsv"
    patients.write_text("dicom_patient_id\tpatient_id\n4MR1\tP-17\n")
    ingest(node, "ds", "dicom", [MR], patients=patients)
    person = node.pseudonyms.one("ds", "P-17")
    assert rows(node, "SELECT individual_id FROM imaging_series") == [(person,)]
    assert rows(node, "SELECT id, sex FROM individuals") == [(person, "NCIT:C16576")]  # the clinical row stays
    with pytest.raises(IngestError, match="not in the patient map"):
        ingest(node, "ds", "dicom", [CT], patients=patients)


def test_burned_in_annotation_is_flagged_and_recorded(node):
    notes = []
    ingest(node, "ds", "dicom", [US, CT], notice=notes.append)
    records = {json.loads(f.read_text())["burned_in_annotation"] for f in (node.path / "imaging").rglob("*.json")}
    assert records == {"SUSPECTED", "NO"}  # ultrasound suspected by modality; the CT says nothing
    assert len(notes) == 1 and "burned-in annotation suspected" in notes[0]


@pytest.mark.parametrize("bad, reason", [(TRUNCATED, "truncated"), (NOT_DICOM, "not a DICOM file"),
                                         (None, "no PatientID")])
def test_a_bad_file_refuses_the_whole_ingest_and_leaves_nothing(node, tmp_path, bad, reason):
    ingest(node, "ds", "dicom", [CT])
    before, files_before = sha256(node.store_path), sorted(node.path.rglob("*"))
    bad = bad or no_patient_id(tmp_path)
    with pytest.raises(IngestError, match=reason) as e:
        ingest(node, "ds", "dicom", [MR, bad, SEG])
    assert e.value.file == str(bad.resolve())
    assert sha256(node.store_path) == before
    assert sorted(node.path.rglob("*")) == files_before  # no copy of MR, no staging folder


def test_skip_stores_the_good_files_and_names_each_bad_one(node, tmp_path):
    notes = []
    result = ingest(node, "ds", "dicom", [MR, TRUNCATED, NOT_DICOM, no_patient_id(tmp_path), CT],
                    on_error="skip", notice=notes.append)
    assert result.counts["imaging_series"] == 2
    assert [n.split(":")[0].removeprefix("skipped ").rsplit("/", 1)[-1].split(",")[0] for n in notes] == \
        ["MR_truncated.dcm", "README.txt", "no-patient-id.dcm"]
    assert len(copies(node)) == 2


def test_the_command_line_refuses_or_skips(cli, node, tmp_path):
    before = sha256(node.store_path)
    refused = cli("node", "ingest", node.path, TRUNCATED, MR, "--dataset", "ds", "--format", "dicom", ok=False)
    assert refused.exit_code == 1 and "MR_truncated.dcm" in refused.output and "truncated" in refused.output
    assert sha256(node.store_path) == before
    done = cli("node", "ingest", node.path, TRUNCATED, MR, "--dataset", "ds", "--format", "dicom", "--on-error", "skip")
    assert "skipped" in done.output and "version 1" in done.output


def test_imaging_variables_select_individuals_by_their_images(node):
    from oncofed.analysis.cohort import select

    ingest(node, "ds", "dicom", [CT, MR, SEG, DICOMDIR_SET / "DICOMDIR"])
    with node.store(read_only=True) as store:
        df = select(store.con, "n", None).frame(["imaging:CT", "imaging:MR", "imaging_series", "imaging_age"])
    by_patient = {node.pseudonyms.one("ds", p): p for p in ("1CT1", "4MR1", "99000", "77654033", "98890234")}
    with node.store(read_only=True) as store:
        ids = [r[0] for r in store.con.execute("SELECT id FROM individuals ORDER BY dataset_id, id").fetchall()]
    df.index = [by_patient[i] for i in ids]
    assert df.loc["77654033"].tolist() == [1.0, 0.0, 4.0, 42.0]  # 3 CR series and a head CT, at 47 and 42
    assert df.loc["4MR1", "imaging:MR"] == 1.0 and df.loc["4MR1", "imaging:CT"] == 0.0
    assert df.loc["99000", "imaging_age"] == 60.0
