-- oncofed node store, schema 3: a steward's disclosure settings per dataset for discovery
-- (Beacon v2; see oncofed.model.schema.DATASET_ACCESS). Frozen once released, like 0001.

-- Per access level, the finest granularity the dataset releases (boolean < count < record).
-- A dataset without a row here has the defaults of ARCHITECTURE.md. `synthetic` marks a
-- dataset of made-up records: Beacon requests in test mode are answered from those only.
CREATE TABLE dataset_access (
    dataset_id VARCHAR PRIMARY KEY,
    public_granularity VARCHAR NOT NULL,
    registered_granularity VARCHAR NOT NULL,
    controlled_granularity VARCHAR NOT NULL,
    synthetic BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
