-- oncofed node store, schema 1: datasets, their versions and the harmonised record tables.
-- Frozen once released: change the schema with a new numbered migration, never by editing this file.

CREATE TABLE datasets (
    id VARCHAR PRIMARY KEY,
    title VARCHAR NOT NULL,
    description VARCHAR,
    duo VARCHAR[],
    licence VARCHAR,
    contact VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE dataset_versions (
    dataset_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    format VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,
    sources JSON NOT NULL,
    counts JSON NOT NULL,
    oncofed_version VARCHAR NOT NULL,
    PRIMARY KEY (dataset_id, version)
);

-- Labels of the coded terms the sources used, for display and for the discovery APIs.
CREATE TABLE terms (
    id VARCHAR PRIMARY KEY,
    label VARCHAR NOT NULL
);

CREATE TABLE individuals (
    dataset_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    sex VARCHAR,
    year_of_birth INTEGER,
    country VARCHAR,
    region VARCHAR,
    region_coding VARCHAR,
    vital_status VARCHAR,
    followup_days DOUBLE
);

CREATE TABLE diseases (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    code VARCHAR NOT NULL,
    label VARCHAR,
    topography VARCHAR,
    morphology VARCHAR,
    icd10 VARCHAR,
    primary_site VARCHAR,
    laterality VARCHAR,
    stage VARCHAR,
    stage_system VARCHAR,
    stage_basis VARCHAR,
    t_category VARCHAR,
    n_category VARCHAR,
    m_category VARCHAR,
    grade VARCHAR,
    age_at_diagnosis DOUBLE,
    diagnosis_year INTEGER
);

CREATE TABLE treatments (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    agent VARCHAR,
    agent_label VARCHAR,
    start_age DOUBLE,
    end_age DOUBLE,
    intent VARCHAR
);

CREATE TABLE measurements (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    biosample_id VARCHAR,
    code VARCHAR NOT NULL,
    label VARCHAR,
    value DOUBLE,
    value_code VARCHAR,
    value_label VARCHAR,
    unit VARCHAR,
    age DOUBLE
);

CREATE TABLE phenotypic_features (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    code VARCHAR NOT NULL,
    label VARCHAR,
    excluded BOOLEAN,
    severity VARCHAR,
    onset_age DOUBLE
);

CREATE TABLE outcomes (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL,
    days DOUBLE NOT NULL,
    event BOOLEAN NOT NULL
);

CREATE TABLE biosamples (
    dataset_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    sampled_tissue VARCHAR,
    sample_type VARCHAR,
    tumour_normal VARCHAR,
    histology VARCHAR,
    tumour_progression VARCHAR,
    grade VARCHAR,
    stage VARCHAR,
    procedure VARCHAR,
    collection_age DOUBLE
);

CREATE TABLE variants (
    dataset_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    assembly VARCHAR NOT NULL,
    chromosome VARCHAR NOT NULL,
    position BIGINT NOT NULL,
    ref VARCHAR NOT NULL,
    alt VARCHAR NOT NULL,
    gene VARCHAR,
    hgvs_g VARCHAR,
    hgvs_c VARCHAR,
    hgvs_p VARCHAR,
    variant_class VARCHAR,
    consequence VARCHAR
);

CREATE TABLE calls (
    dataset_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,
    biosample_id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    genotype VARCHAR,
    zygosity VARCHAR,
    origin VARCHAR,
    allele_fraction DOUBLE,
    depth INTEGER
);

CREATE TABLE imaging_studies (
    dataset_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    modality VARCHAR,
    body_part VARCHAR,
    age DOUBLE,
    description VARCHAR,
    series_count INTEGER
);

CREATE TABLE imaging_series (
    dataset_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    study_id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    modality VARCHAR,
    body_part VARCHAR,
    description VARCHAR,
    image_count INTEGER,
    manufacturer VARCHAR,
    slice_thickness DOUBLE,
    file_ref VARCHAR
);

CREATE TABLE exposures (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR,
    region VARCHAR,
    region_coding VARCHAR,
    code VARCHAR NOT NULL,
    label VARCHAR,
    value DOUBLE,
    value_code VARCHAR,
    unit VARCHAR,
    year INTEGER,
    source VARCHAR
);
