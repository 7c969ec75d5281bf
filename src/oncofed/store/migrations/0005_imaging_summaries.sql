-- oncofed node store, schema 5: one row per imaged individual, derived from imaging_studies and
-- imaging_series, so a cohort filter on imaging (a modality, the age at the first study) reads
-- about one row per patient instead of joining a million series. Not part of a dataset's
-- content: `Store.write` rebuilds a dataset's rows from the view whenever it writes the dataset.
CREATE VIEW imaging_summary_source AS
WITH studies AS (
    SELECT dataset_id, individual_id, min(age) AS first_age, count(*) AS n
    FROM imaging_studies GROUP BY dataset_id, individual_id
), series AS (
    SELECT dataset_id, individual_id, count(*) AS n,
           list_sort(list(DISTINCT modality) FILTER (WHERE modality IS NOT NULL)) AS modalities
    FROM imaging_series GROUP BY dataset_id, individual_id
)
SELECT dataset_id, individual_id, coalesce(se.modalities, []) AS modalities, st.first_age,
       coalesce(st.n, 0) AS studies, coalesce(se.n, 0) AS series
FROM studies st FULL JOIN series se USING (dataset_id, individual_id);

CREATE TABLE imaging_summaries (
    dataset_id VARCHAR NOT NULL,
    individual_id VARCHAR NOT NULL,
    modalities VARCHAR[] NOT NULL,  -- of its series: distinct, sorted
    first_age DOUBLE,               -- age at the first imaging study (years)
    studies BIGINT NOT NULL,
    series BIGINT NOT NULL
);

INSERT INTO imaging_summaries SELECT * FROM imaging_summary_source;
