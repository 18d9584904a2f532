-- Migration 001 (Redshift): the tables of the warehouse contract (DESIGN.md "Warehouse contract").
-- Applied once by Warehouse.ensure_schema and recorded in schema_migrations; {schema} is replaced by
-- the quoted schema name. Never edit an applied migration: add the next numbered file instead.
-- queue_metrics_daily mirrors settings.FACT_COLUMNS column for column (tests/test_redshift_sql.py).
-- Storage: DISTSTYLE AUTO and no ENCODE (Redshift chooses both); the sort key leads with metric_date
-- because every load deletes and every analyst query filters a date range. Primary keys are
-- informational in Redshift: uniqueness comes from the loader (LOCK + delete-window + insert).
-- The PostgreSQL test stand-in runs this file with DISTSTYLE/SORTKEY stripped (strip_redshift_options).

CREATE TABLE IF NOT EXISTS {schema}.queue_metrics_daily (
    metric_date DATE NOT NULL,
    interval_start TIMESTAMPTZ,
    interval_end TIMESTAMPTZ,
    time_zone VARCHAR(64),
    queue_id VARCHAR(64) NOT NULL,
    media_type VARCHAR(32),
    metric VARCHAR(64) NOT NULL,
    qualifier VARCHAR(256),
    stat_count BIGINT,
    stat_sum DOUBLE PRECISION,
    stat_min DOUBLE PRECISION,
    stat_max DOUBLE PRECISION,
    stat_ratio DOUBLE PRECISION,
    stat_numerator DOUBLE PRECISION,
    stat_denominator DOUBLE PRECISION,
    stat_target DOUBLE PRECISION,
    stat_current DOUBLE PRECISION,
    load_id VARCHAR(64),
    loaded_at TIMESTAMPTZ
)
DISTSTYLE AUTO
COMPOUND SORTKEY (metric_date, queue_id, media_type, metric);

-- One row per queue id ever seen, in the listing or only in facts (then name is NULL and is_active
-- unknown until the next listing). Rows are never deleted: a queue gone from the listing keeps its
-- name and gets is_active = false. first_seen_at never changes; last_seen_at is the latest listing
-- that had the queue.
CREATE TABLE IF NOT EXISTS {schema}.queues (
    queue_id VARCHAR(64) NOT NULL,
    name VARCHAR(1024),
    division_id VARCHAR(64),
    division_name VARCHAR(1024),
    date_created TIMESTAMPTZ,
    date_modified TIMESTAMPTZ,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ,
    is_active BOOLEAN,
    PRIMARY KEY (queue_id)
)
DISTSTYLE AUTO
SORTKEY (queue_id);

-- One row per window load: status running -> succeeded | failed.
CREATE TABLE IF NOT EXISTS {schema}.load_runs (
    load_id VARCHAR(64) NOT NULL,
    run_id VARCHAR(64) NOT NULL,
    "trigger" VARCHAR(16) NOT NULL,
    window_start_date DATE NOT NULL,
    window_end_date DATE NOT NULL,
    time_zone VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    api_calls INTEGER,
    retries INTEGER,
    rows_loaded BIGINT,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    error VARCHAR(4096),
    PRIMARY KEY (load_id)
)
DISTSTYLE AUTO
COMPOUND SORTKEY (window_start_date, started_at);

-- Job settings the view needs (settle_days), written by ensure_schema from the job's configuration.
CREATE TABLE IF NOT EXISTS {schema}.etl_settings (
    name VARCHAR(64) NOT NULL,
    value VARCHAR(256),
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name)
)
DISTSTYLE AUTO;
