"""One cohort definition across modalities: clinical, variant, imaging and exposure criteria
together, at the node (the cohort machinery) and in Beacon filters.

The node holds the real HCC1187 tumour/normal VCF with a clinical record, pydicom's CT test
image, and a region-level deprivation table. Which image and which region belong to HCC1187 is
a TEST LINKAGE made here (the sources are unrelated), so that one individual has all four
kinds of data; LeukSurv supplies real clinical + exposure data beside it."""

from pathlib import Path

import pydicom.data
import pytest
from fastapi.testclient import TestClient

from beacon.nodes import build
from conftest import DATA
from oncofed.analysis import cohort
from oncofed.ingest.pipeline import ingest
from oncofed.node.app import create_app

CT = Path(pydicom.data.__path__[0]) / "test_files" / "CT_small.dcm"
BREAST = "NCIT:C4872"
TOWNSEND = "exposure:ONCOFED:townsend_score_district_mean"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cross-modal")
    built = build(folder)
    patients = folder / "patients.tsv"
    patients.write_text(f"dicom_patient_id\tpatient_id\n{pydicom.dcmread(CT).PatientID}\tHCC1187\n")
    ingest(built.home, "hcc1187", "dicom", [CT], patients=patients)  # the test linkage
    region = folder / "region.csv"
    region.write_text("pid,sex,code,age,district\nHCC1187,NCIT:C16576,NCIT:C4194,41,1\n")
    mapping = folder / "region.yaml"
    mapping.write_text("individuals:\n  id: {column: pid}\n  region: {column: district}\n"
                       "  region_coding: {value: leuksurv-district}\n")
    ingest(built.home, "hcc1187", "csv", [region], mapping=mapping)  # the test linkage
    with built.home.store() as store:
        store.add_dataset("leuksurv", "LeukSurv")
    ingest(built.home, "leuksurv", "csv", [DATA / "leuksurv/leuksurv.csv"], mapping=DATA / "leuksurv/mapping.yaml")
    ingest(built.home, "leuksurv", "exposures", [DATA / "leuksurv/district-townsend.csv"],
           region_column="district", region_coding="leuksurv-district")
    return built


def members(node, *filters, datasets=None):
    spec = {"datasets": datasets, "filters": [{"variable": v, "op": op, "value": x} for v, op, x in filters]}
    with node.home.store() as store:
        return cohort.select(store.con, "n", spec).records


ALL_FOUR = [("diagnosis", "descendant_of", BREAST), ("variant:EGFR", "=", 1), ("imaging:CT", "=", 1),
            (TOWNSEND, ">", 1.0)]


def test_each_modality_selects_on_its_own(node):
    assert members(node, ("variant:EGFR", "=", 1)) == 1
    assert members(node, ("variant:GRCh37:7:55083588:C:T", "=", 1)) == 1
    assert members(node, ("imaging:CT", "=", 1)) == 1
    assert members(node, (TOWNSEND, ">", 1.0)) > 100  # LeukSurv's patients of the more deprived districts


def test_all_four_modalities_combine_in_one_cohort(node):
    assert members(node, *ALL_FOUR) == 1  # district 1's mean score is 1.78
    assert members(node, *ALL_FOUR[:3], (TOWNSEND, ">", 2.0)) == 0
    assert members(node, *ALL_FOUR[1:], datasets=["leuksurv"]) == 0


def test_the_same_criteria_as_beacon_filters(node):
    with TestClient(create_app(node.home)) as client:
        headers = {"Authorization": f"Bearer {node.token('x')}"}
        both = client.get("/api/individuals", headers=headers, params={
            "filters": f"{BREAST},variant:EGFR=1,imaging:CT=1,{TOWNSEND}>1", "geneId": "EGFR"}).json()
        none = client.get("/api/individuals", headers=headers, params={
            "filters": f"{BREAST},variant:EGFR=1,imaging:CT=1,{TOWNSEND}>2"}).json()
    assert both["responseSummary"]["exists"] is True and "numTotalResults" not in both["responseSummary"]
    assert none["responseSummary"] == {"exists": False, "numTotalResults": 0}
