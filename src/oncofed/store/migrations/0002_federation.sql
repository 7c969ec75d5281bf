-- oncofed node store, schema 2: what a serving node keeps about the requests it answers.
-- Neither table holds records of individuals. Frozen once released, like 0001.

-- Append-only and hash-chained (see oncofed.node.audit): hash = sha256 over the canonical
-- JSON of every other column, prev_hash the hash of entry seq - 1 (64 zeros before the first).
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    logged_at TIMESTAMPTZ NOT NULL,
    requester VARCHAR,                 -- NULL when the request named no one we could verify
    kind VARCHAR NOT NULL,             -- "cox@1", "beacon", "ping" …
    datasets JSON NOT NULL,            -- dataset id -> the version (or content hash) used
    request_digest VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,          -- released | refused | error
    reason VARCHAR,
    released JSON NOT NULL,            -- what was released, in summary: never the values
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL
);

-- The differencing guard's memory (see oncofed.privacy.differencing): per requester, each
-- cohort answered, as its sorted distinct 64-bit member hashes (little-endian) in one BLOB,
-- and the hashes below 2^58 (a 1/64 sample, a prefix of members) for a quick first comparison.
CREATE SEQUENCE answered_cohort_ids;
CREATE TABLE answered_cohorts (
    id BIGINT PRIMARY KEY DEFAULT nextval('answered_cohort_ids'),
    requester VARCHAR NOT NULL,
    answered_at TIMESTAMPTZ NOT NULL,
    size INTEGER NOT NULL,
    sample BLOB NOT NULL,
    members BLOB NOT NULL
);
