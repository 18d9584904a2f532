-- Migration 001 (DuckDB): the tables of the warehouse contract (DESIGN.md "Warehouse contract"), the
-- same columns as sql/redshift/001_tables.sql with DuckDB types (settings.FACT_COLUMNS .duckdb).
-- Applied once by Warehouse.ensure_schema and recorded in schema_migrations; {schema} is replaced by
-- the quoted schema name. Never edit an applied migration: add the next numbered file instead.
-- No sort or distribution options: DuckDB stores columns in row groups with min/max zone maps.

CREATE TABLE IF NOT EXISTS {schema}.queue_metrics_daily (
    metric_date DATE NOT NULL,
    interval_start TIMESTAMPTZ,
    interval_end TIMESTAMPTZ,
    time_zone VARCHAR,
    queue_id VARCHAR NOT NULL,
    media_type VARCHAR,
    metric VARCHAR NOT NULL,
    qualifier VARCHAR,
    stat_count BIGINT,
    stat_sum DOUBLE,
    stat_min DOUBLE,
    stat_max DOUBLE,
    stat_ratio DOUBLE,
    stat_numerator DOUBLE,
    stat_denominator DOUBLE,
    stat_target DOUBLE,
    stat_current DOUBLE,
    load_id VARCHAR,
    loaded_at TIMESTAMPTZ
);

-- One row per queue id ever seen, in the listing or only in facts (then name is NULL and is_active
-- unknown until the next listing). Rows are never deleted: a queue gone from the listing keeps its
-- name and gets is_active = false. first_seen_at never changes; last_seen_at is the latest listing
-- that had the queue.
CREATE TABLE IF NOT EXISTS {schema}.queues (
    queue_id VARCHAR NOT NULL,
    name VARCHAR,
    division_id VARCHAR,
    division_name VARCHAR,
    date_created TIMESTAMPTZ,
    date_modified TIMESTAMPTZ,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ,
    is_active BOOLEAN,
    PRIMARY KEY (queue_id)
);

-- One row per window load: status running -> succeeded | failed.
CREATE TABLE IF NOT EXISTS {schema}.load_runs (
    load_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    "trigger" VARCHAR NOT NULL,
    window_start_date DATE NOT NULL,
    window_end_date DATE NOT NULL,
    time_zone VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    api_calls INTEGER,
    retries INTEGER,
    rows_loaded BIGINT,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    error VARCHAR,
    PRIMARY KEY (load_id)
);

-- Job settings the view needs (settle_days), written by ensure_schema from the job's configuration.
CREATE TABLE IF NOT EXISTS {schema}.etl_settings (
    name VARCHAR NOT NULL,
    value VARCHAR,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name)
);
