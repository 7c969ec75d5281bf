"""A small node store written through ``Store.write``, built for the Beacon's query logic:
three individuals, their samples and a handful of variants whose coordinates, alleles and
annotations exercise every kind of variant query. Constructed, not real data: the real
cohorts and VCFs are used end to end in tests/node/test_beacon_api.py."""

import pytest

from oncofed.ingest.batch import RowBuilder, SourceFile
from oncofed.beacon import terms

SRC = [SourceFile("constructed.json", "0" * 64, 1)]

INDIVIDUALS = [
    {"id": "ann", "sex": "NCIT:C16576", "country": "DE"},
    {"id": "bea", "sex": "NCIT:C16576", "country": "NL"},
    {"id": "carl", "sex": "NCIT:C20197", "country": "FR", "region": "FR-75", "region_coding": "ISO3166-2"},
]
DISEASES = [
    {"individual_id": "ann", "code": "NCIT:C7950", "age_at_diagnosis": 44.0, "grade": "NCIT:C28079"},  # lobular
    {"individual_id": "bea", "code": "NCIT:C4872", "age_at_diagnosis": 67.5},  # breast carcinoma
    {"individual_id": "carl", "code": "NCIT:C4878", "age_at_diagnosis": 71.0},  # lung carcinoma
]
TREATMENTS = [{"individual_id": "ann", "type": "NCIT:C15445", "agent": "ATC:L02BA01", "start_age": 44.5}]
MEASUREMENTS = [
    {"individual_id": "ann", "code": "LOINC:21893-3", "value": 3.0},
    {"individual_id": "bea", "code": "LOINC:21893-3", "value": 0.0},
    {"individual_id": "bea", "code": "LOINC:85337-4", "value_code": "NCIT:C38758"},
]
FEATURES = [{"individual_id": "carl", "code": "NCIT:C3262", "excluded": True}]
EXPOSURES = [{"region": "FR-75", "region_coding": "ISO3166-2", "code": "ONCOFED:air_quality", "value": 12.0,
              "year": 2020}]
BIOSAMPLES = [
    {"id": "ann-t", "individual_id": "ann", "tumour_normal": "tumour", "grade": "NCIT:C28078"},
    {"id": "ann-n", "individual_id": "ann", "tumour_normal": "normal"},
    {"id": "bea-t", "individual_id": "bea", "tumour_normal": "tumour"},
    {"id": "carl-t", "individual_id": "carl", "tumour_normal": "tumour"},
]
# chromosome 7 (GRCh37), VCF positions (1-based) and alleles as VCF ingest stores them
VARIANTS = [
    {"id": "snv", "position": 100, "ref": "C", "alt": "T", "gene": "EGFR", "hgvs_p": "p.Leu858Arg",
     "variant_class": "SO:0001483"},
    {"id": "del", "position": 200, "ref": "CA", "alt": "C", "gene": "EGFR", "variant_class": "SO:0000159"},
    {"id": "ins", "position": 300, "ref": "G", "alt": "GTT", "gene": "EGFR", "variant_class": "SO:0000667"},
    {"id": "mnp", "position": 400, "ref": "AG", "alt": "TC", "gene": "BRAF",
     "hgvs_p": "ENSP00000288602.6:p.(Val600Glu)", "variant_class": "SO:0002007"},
    {"id": "longdel", "position": 500, "ref": "ACGTACGTAC", "alt": "A", "gene": "BRAF", "variant_class": "SO:0000159"},
    {"id": "snv2", "position": 520, "ref": "G", "alt": "A", "gene": "BRAF", "hgvs_p": "p.Arg1443Ter",
     "variant_class": "SO:0001483"},
    {"id": "bnd", "position": 600, "ref": "G", "alt": "G]17:198982]"},  # a breakend, mate on chromosome 17
]
CALLS = [
    ("snv", "ann-t", "somatic", "GENO:0000135"), ("snv", "carl-t", "germline", "GENO:0000136"),
    ("del", "ann-n", "germline", "GENO:0000135"), ("ins", "bea-t", "somatic", "GENO:0000135"),
    ("mnp", "ann-t", "somatic", "GENO:0000135"), ("longdel", "carl-t", "somatic", "GENO:0000135"),
    ("snv2", "bea-t", "germline", "GENO:0000135"), ("bnd", "carl-t", "somatic", None),
]
OWNER = {b["id"]: b["individual_id"] for b in BIOSAMPLES}


def batch():
    b = RowBuilder()
    for table, rows in (("individuals", INDIVIDUALS), ("diseases", DISEASES), ("treatments", TREATMENTS),
                        ("measurements", MEASUREMENTS), ("phenotypic_features", FEATURES),
                        ("exposures", EXPOSURES), ("biosamples", BIOSAMPLES)):
        for row in rows:
            b.add(table, row, file="constructed")
    for v in VARIANTS:
        b.add("variants", {"assembly": "GRCh37", "chromosome": "7", **v}, file="constructed")
    for variant, biosample, origin, zygosity in CALLS:
        b.add("calls", {"variant_id": variant, "biosample_id": biosample, "individual_id": OWNER[biosample],
                        "origin": origin, "zygosity": zygosity}, file="constructed")
    b.term("ONCOFED:air_quality", "Air quality index (constructed)")
    return b.build(SRC)


@pytest.fixture
def store(node):
    """The node fixture's store, dataset 'ds' holding the constructed records."""
    with node.store() as s:
        s.write("ds", batch(), format="constructed")
        yield s


@pytest.fixture
def index(store):
    return terms.index(store.con, (("ds", store.dataset("ds").content_hash),))
