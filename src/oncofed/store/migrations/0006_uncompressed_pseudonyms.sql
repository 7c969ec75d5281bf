-- oncofed node store, schema 6: pseudonym columns stored uncompressed. A pseudonym is a
-- keyed hash, random text that neither dictionary nor FSST compression shrinks much, and
-- trying them costs a third of the time of writing a record table (5,000,000 measurement rows
-- on one core: 1.90 s with compression, 1.21 s without, for a file 40 % larger; reading no
-- slower). DuckDB cannot change a column's compression in place, so each record table with
-- such a column is rebuilt with its rows.

CREATE TABLE individuals_v6 (
    dataset_id VARCHAR NOT NULL,
    id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    sex VARCHAR,
    year_of_birth INTEGER,
    country VARCHAR,
    region VARCHAR,
    region_coding VARCHAR,
    vital_status VARCHAR,
    followup_days DOUBLE
);
INSERT INTO individuals_v6 SELECT * FROM individuals;
DROP TABLE individuals;
ALTER TABLE individuals_v6 RENAME TO individuals;

CREATE TABLE diseases_v6 (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
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
INSERT INTO diseases_v6 SELECT * FROM diseases;
DROP TABLE diseases;
ALTER TABLE diseases_v6 RENAME TO diseases;

CREATE TABLE treatments_v6 (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    type VARCHAR NOT NULL,
    agent VARCHAR,
    agent_label VARCHAR,
    start_age DOUBLE,
    end_age DOUBLE,
    intent VARCHAR
);
INSERT INTO treatments_v6 SELECT * FROM treatments;
DROP TABLE treatments;
ALTER TABLE treatments_v6 RENAME TO treatments;

CREATE TABLE measurements_v6 (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    biosample_id VARCHAR USING COMPRESSION uncompressed,
    code VARCHAR NOT NULL,
    label VARCHAR,
    value DOUBLE,
    value_code VARCHAR,
    value_label VARCHAR,
    unit VARCHAR,
    age DOUBLE
);
INSERT INTO measurements_v6 SELECT * FROM measurements;
DROP TABLE measurements;
ALTER TABLE measurements_v6 RENAME TO measurements;

CREATE TABLE phenotypic_features_v6 (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    code VARCHAR NOT NULL,
    label VARCHAR,
    excluded BOOLEAN,
    severity VARCHAR,
    onset_age DOUBLE
);
INSERT INTO phenotypic_features_v6 SELECT * FROM phenotypic_features;
DROP TABLE phenotypic_features;
ALTER TABLE phenotypic_features_v6 RENAME TO phenotypic_features;

CREATE TABLE outcomes_v6 (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    endpoint VARCHAR NOT NULL,
    days DOUBLE NOT NULL,
    event BOOLEAN NOT NULL
);
INSERT INTO outcomes_v6 SELECT * FROM outcomes;
DROP TABLE outcomes;
ALTER TABLE outcomes_v6 RENAME TO outcomes;

CREATE TABLE biosamples_v6 (
    dataset_id VARCHAR NOT NULL,
    id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
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
INSERT INTO biosamples_v6 SELECT * FROM biosamples;
DROP TABLE biosamples;
ALTER TABLE biosamples_v6 RENAME TO biosamples;

CREATE TABLE calls_v6 (
    dataset_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,
    biosample_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    genotype VARCHAR,
    zygosity VARCHAR,
    origin VARCHAR,
    allele_fraction DOUBLE,
    depth INTEGER
);
INSERT INTO calls_v6 SELECT * FROM calls;
DROP TABLE calls;
ALTER TABLE calls_v6 RENAME TO calls;

CREATE TABLE imaging_studies_v6 (
    dataset_id VARCHAR NOT NULL,
    id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    modality VARCHAR,
    body_part VARCHAR,
    age DOUBLE,
    description VARCHAR,
    series_count INTEGER
);
INSERT INTO imaging_studies_v6 SELECT * FROM imaging_studies;
DROP TABLE imaging_studies;
ALTER TABLE imaging_studies_v6 RENAME TO imaging_studies;

CREATE TABLE imaging_series_v6 (
    dataset_id VARCHAR NOT NULL,
    id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    study_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed NOT NULL,
    modality VARCHAR,
    body_part VARCHAR,
    description VARCHAR,
    image_count INTEGER,
    manufacturer VARCHAR,
    slice_thickness DOUBLE,
    file_ref VARCHAR
);
INSERT INTO imaging_series_v6 SELECT * FROM imaging_series;
DROP TABLE imaging_series;
ALTER TABLE imaging_series_v6 RENAME TO imaging_series;

CREATE TABLE exposures_v6 (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR USING COMPRESSION uncompressed,
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
INSERT INTO exposures_v6 SELECT * FROM exposures;
DROP TABLE exposures;
ALTER TABLE exposures_v6 RENAME TO exposures;
