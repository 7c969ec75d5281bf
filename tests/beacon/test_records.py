"""Store rows as default-model records, each valid against the model's defaultSchema.json."""

from datetime import datetime, timezone

from conformance import RECORD, check
from oncofed.beacon import records
from oncofed.model import vocabulary

label = vocabulary.label


def test_an_individual_with_its_clinical_record():
    rec = records.individual(
        {"id": "p1", "sex": "NCIT:C16576"},
        {"diseases": [{"code": "NCIT:C7950", "age_at_diagnosis": 44.5, "stage": "NCIT:C27966"}],
         "treatments": [{"type": "NCIT:C15445", "agent": "ATC:L02BA01", "start_age": 45.0},
                        {"type": "NCIT:C15329"}],
         "measurements": [{"code": "LOINC:21889-1", "value": 23.0, "unit": "UCUM:mm", "age": 44.5},
                          {"code": "LOINC:21893-3", "value": 3.0},
                          {"code": "LOINC:85337-4", "value_code": "NCIT:C38758"},
                          {"code": "LOINC:21889-1", "value_label": "<= 20 mm"}],
         "phenotypic_features": [{"code": "NCIT:C3262", "excluded": True, "onset_age": 40.0}]},
        label)
    check(rec, RECORD["individuals"])
    assert rec["sex"] == {"id": "NCIT:C16576", "label": "Female"}
    assert rec["diseases"] == [{"diseaseCode": {"id": "NCIT:C7950", "label": "Invasive Lobular Breast Carcinoma"},
                                "ageOfOnset": {"iso8601duration": "P44Y6M"},
                                "stage": {"id": "NCIT:C27966", "label": "Stage I"}}]
    assert [t["treatmentCode"]["id"] for t in rec["treatments"]] == ["ATC:L02BA01", "NCIT:C15329"]
    # a unitless number is a pure number (UCUM's unity); a free-text value has no place in the model
    assert [m["measurementValue"] for m in rec["measures"]] == [
        {"value": 23.0, "unit": {"id": "UCUM:mm"}}, {"value": 3.0, "unit": records.UNITY},
        {"id": "NCIT:C38758", "label": "Positive Finding"}]
    assert rec["phenotypicFeatures"][0]["excluded"] is True


def test_an_individual_of_unknown_sex_still_states_it():
    rec = records.individual({"id": "p2", "sex": None}, {}, label)
    check(rec, RECORD["individuals"])
    assert rec == {"id": "p2", "sex": {"id": "NCIT:C17998", "label": "Unknown"}}


def test_biosamples_tumour_normal_and_unknown():
    for status, expected in (("tumour", "EFO:0009655"), ("normal", "EFO:0009654"), (None, "NCIT:C17998")):
        rec = records.biosample({"id": "s", "individual_id": "p", "tumour_normal": status, "histology": "NCIT:C4194",
                                 "grade": "NCIT:C28079", "procedure": "NCIT:C15189", "collection_age": 50.25}, label)
        check(rec, RECORD["biosamples"])
        assert rec["biosampleStatus"]["id"] == expected
        assert rec["collectionMoment"] == "P50Y3M"


def variant(**kw):
    return {"id": "GRCh37:7:55083588:C:T", "assembly": "GRCh37", "chromosome": "7", "position": 55083588,
            "ref": "C", "alt": "T", **kw}


def test_a_genomic_variation_in_0_based_half_open_coordinates():
    rec = records.genomic_variation(
        variant(gene="EGFR", hgvs_g="NC_000007.13:g.55083588C>T", hgvs_c="NM_005228.5:c.-3000C>T",
                hgvs_p="ENSP00000275493.2:p.Leu858Arg", consequence="SO:0001631"),
        [{"biosample_id": "t1", "individual_id": "p1", "zygosity": "GENO:0000135", "origin": "somatic"}], label)
    check(rec, RECORD["g_variants"])
    assert rec["variation"] == {
        "variantType": "SNP", "referenceBases": "C", "alternateBases": "T",
        "location": {"type": "SequenceLocation", "sequence_id": "refseq:NC_000007.13",
                     "interval": {"type": "SequenceInterval", "start": {"type": "Number", "value": 55083587},
                                  "end": {"type": "Number", "value": 55083588}}}}
    assert rec["molecularAttributes"]["aminoacidChanges"] == ["Leu858Arg"]
    assert rec["caseLevelData"] == [{"biosampleId": "t1", "individualId": "p1",
                                     "zygosity": {"id": "GENO:0000135", "label": "heterozygous"},
                                     "alleleOrigin": {"id": "SO:0001777", "label": "somatic_variant"}}]


def test_indels_span_their_reference_allele_and_symbolic_alleles_still_validate():
    deletion = records.genomic_variation(variant(id="d", position=200, ref="CA", alt="C"), [], label)
    check(deletion, RECORD["g_variants"])
    interval = deletion["variation"]["location"]["interval"]
    assert (interval["start"]["value"], interval["end"]["value"]) == (199, 201)
    for alt, kind in (("G]17:198982]", "BND"), ("<DUP>", "DUP")):
        rec = records.genomic_variation(variant(id="x", ref="G", alt=alt), [], label)
        check(rec, RECORD["g_variants"])
        assert (rec["variation"]["variantType"], rec["variation"]["alternateBases"]) == (kind, ".")


def test_datasets_and_cohorts():
    at = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    row = {"id": "gbsg2", "title": "GBSG-2", "description": "686 women", "created_at": at,
           "content_hash": "sha256:ab", "updated_at": at}
    dataset = records.dataset(row)
    check(dataset, RECORD["datasets"])
    assert dataset["version"] == "sha256:ab"
    cohort = records.cohort(row, 686, ["NCIT:C16576"], ["NCIT:C4872"], label)
    check(cohort, RECORD["cohorts"])
    assert cohort["cohortSize"] == 686 and cohort["cohortType"] == "study-defined"
    assert "cohortSize" not in records.cohort(row, None, [], [], label)
    check(records.dataset({**row, "description": None, "content_hash": None}), RECORD["datasets"])
