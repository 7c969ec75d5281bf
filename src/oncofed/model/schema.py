"""The harmonised cancer model: the record tables every reader fills and every handler reads.

This is the current shape of the node store's record tables. The store's SQL migrations
create it; `tests/store/test_migrations.py` proves the two agree, so a change here needs a
new migration.

Conventions that make sources comparable:
- coded values are CURIEs (``NCIT:C4878``, ``LOINC:16112-5``, ``ATC:L02BA01``);
- a point in a patient's history is an *age in years* (``age_at_diagnosis``, ``start_age``):
  Phenopackets give ages, FHIR gives dates that are turned into ages at ingest, so no full
  date is stored; durations (survival, follow-up) are *days*;
- every identifier is a pseudonym made at ingest (``privacy.pseudonym``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    required: bool = False

    @property
    def coded(self) -> bool:
        """Holds a CURIE (checked at ingest)."""
        return self.name in CODED


@dataclass(frozen=True)
class Table:
    """A record table. ``key`` decides how a new ingest merges with stored rows.

    With a key, a stored row with the same key is replaced. Without one, the table is part
    of an individual's clinical record, and an ingest that mentions an individual replaces
    all of that individual's rows in the table.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    # rows are written in this order, so the store's per-block min/max let a lookup skip blocks
    order: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def per_individual(self) -> bool:
        return any(c.name == "individual_id" for c in self.columns)


# Columns whose values are CURIEs wherever they appear.
CODED = frozenset({
    "sex", "vital_status", "code", "topography", "morphology", "icd10", "primary_site",
    "laterality", "stage", "grade", "type", "agent", "value_code", "severity", "sampled_tissue",
    "sample_type", "histology", "tumour_progression", "procedure", "variant_class", "consequence",
    "zygosity", "endpoint",
})


def _t(name: str, key: tuple[str, ...], *cols: tuple, order: tuple[str, ...] = ()) -> Table:
    return Table(name, tuple(Column(*c) for c in cols), key, order)


V, D, I, B, BI = "VARCHAR", "DOUBLE", "INTEGER", "BOOLEAN", "BIGINT"
REQ = True

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _t(
            "individuals", ("id",),
            ("id", V, REQ), ("sex", V), ("year_of_birth", I), ("country", V),
            ("region", V), ("region_coding", V), ("vital_status", V), ("followup_days", D),
        ),
        _t(
            "diseases", (),
            ("individual_id", V, REQ), ("code", V, REQ), ("label", V),
            ("topography", V), ("morphology", V), ("icd10", V),
            ("primary_site", V), ("laterality", V),
            ("stage", V), ("stage_system", V), ("stage_basis", V),
            ("t_category", V), ("n_category", V), ("m_category", V),
            ("grade", V), ("age_at_diagnosis", D), ("diagnosis_year", I),
        ),
        _t(
            "treatments", (),
            ("individual_id", V, REQ), ("type", V, REQ), ("agent", V), ("agent_label", V),
            ("start_age", D), ("end_age", D), ("intent", V),
        ),
        _t(
            "measurements", (),
            ("individual_id", V, REQ), ("biosample_id", V), ("code", V, REQ), ("label", V),
            ("value", D), ("value_code", V), ("value_label", V), ("unit", V), ("age", D),
        ),
        _t(
            "phenotypic_features", (),
            ("individual_id", V, REQ), ("code", V, REQ), ("label", V), ("excluded", B),
            ("severity", V), ("onset_age", D),
        ),
        _t(
            "outcomes", (),
            ("individual_id", V, REQ), ("endpoint", V, REQ), ("days", D, REQ), ("event", B, REQ),
        ),
        _t(
            "biosamples", ("id",),
            ("id", V, REQ), ("individual_id", V, REQ), ("sampled_tissue", V), ("sample_type", V),
            ("tumour_normal", V), ("histology", V), ("tumour_progression", V), ("grade", V),
            ("stage", V), ("procedure", V), ("collection_age", D),
        ),
        _t(
            "variants", ("id",),
            ("id", V, REQ), ("assembly", V, REQ), ("chromosome", V, REQ), ("position", BI, REQ),
            ("ref", V, REQ), ("alt", V, REQ), ("gene", V), ("hgvs_g", V), ("hgvs_c", V),
            ("hgvs_p", V), ("variant_class", V), ("consequence", V),
            order=("chromosome", "position"),
        ),
        _t(
            "calls", ("variant_id", "biosample_id"),
            ("variant_id", V, REQ), ("biosample_id", V, REQ), ("individual_id", V, REQ),
            ("genotype", V), ("zygosity", V), ("origin", V), ("allele_fraction", D), ("depth", I),
        ),
        _t(
            "imaging_studies", ("id",),
            ("id", V, REQ), ("individual_id", V, REQ), ("modality", V), ("body_part", V),
            ("age", D), ("description", V), ("series_count", I),
        ),
        _t(
            "imaging_series", ("id",),
            ("id", V, REQ), ("study_id", V, REQ), ("individual_id", V, REQ), ("modality", V),
            ("body_part", V), ("description", V), ("image_count", I), ("manufacturer", V),
            ("slice_thickness", D), ("file_ref", V),
        ),
        _t(
            "exposures", ("individual_id", "region", "region_coding", "code", "year"),
            ("individual_id", V), ("region", V), ("region_coding", V), ("code", V, REQ),
            ("label", V), ("value", D), ("value_code", V), ("unit", V), ("year", I),
            ("source", V),
        ),
    )
}

# The tables that make up an individual's clinical record, as a Phenopacket or a FHIR
# patient bundle states it in full.
CLINICAL = ("individuals", "diseases", "treatments", "measurements", "phenotypic_features",
            "outcomes", "biosamples")

# A dataset's disclosure ceilings (table ``dataset_access``, migration 0003): per access level,
# the finest granularity its records are released at, coarsest first in GRANULARITIES. A
# dataset the steward has not set keeps these defaults (ARCHITECTURE.md, "Access levels").
ACCESS_LEVELS = ("public", "registered", "controlled")
GRANULARITIES = ("boolean", "count", "record")
DATASET_ACCESS = {"public": "boolean", "registered": "count", "controlled": "record"}
