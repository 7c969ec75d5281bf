-- oncofed node store, schema 4: what a data steward says about the node's datasets for the
-- FAIR catalogue (see oncofed.catalogue.description). What the store itself knows (counts,
-- ages, coding systems, versions) is not kept here: it is read from the data when asked.

-- One validated description per dataset, as JSON; replaced whole by `oncofed node describe`.
CREATE TABLE dataset_descriptions (
    dataset_id VARCHAR PRIMARY KEY,
    description JSON NOT NULL,
    described_at TIMESTAMPTZ NOT NULL
);

-- The node's catalogue as a whole (base URL of its identifiers, publisher …): at most one row.
CREATE TABLE catalogue_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    settings JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
