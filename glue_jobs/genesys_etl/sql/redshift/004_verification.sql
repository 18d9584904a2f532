-- Migration 004: the audit of `genesys-etl verify` (the warehouse compared with Genesys cell by cell)
-- and v_day_verification, when each day was last proven equal to Genesys. {schema} = quoted schema.

-- One row per verified window.
CREATE TABLE IF NOT EXISTS {schema}.verify_runs (
    verify_id VARCHAR(64) NOT NULL,
    run_id VARCHAR(64) NOT NULL,
    window_start_date DATE NOT NULL,
    window_end_date DATE NOT NULL,
    time_zone VARCHAR(64) NOT NULL,
    verified_at TIMESTAMPTZ NOT NULL,
    cells_compared BIGINT NOT NULL,
    cells_differing BIGINT NOT NULL,
    days_differing INTEGER NOT NULL,
    api_calls INTEGER NOT NULL
)
DISTSTYLE AUTO
COMPOUND SORTKEY (window_start_date, verified_at);

-- One row per verified day: did it equal Genesys, cell for cell?
CREATE TABLE IF NOT EXISTS {schema}.verified_days (
    verify_id VARCHAR(64) NOT NULL,
    metric_date DATE NOT NULL,
    verified_at TIMESTAMPTZ NOT NULL,
    matches BOOLEAN NOT NULL,
    cells_compared BIGINT NOT NULL,
    cells_differing BIGINT NOT NULL
)
DISTSTYLE AUTO
COMPOUND SORTKEY (metric_date, verified_at);

-- Per day: when it was last proven equal to Genesys, and whether the latest check still found it equal.
CREATE OR REPLACE VIEW {schema}.v_day_verification AS
SELECT
    v.metric_date,
    MAX(CASE WHEN v.matches THEN v.verified_at END) AS last_verified_at,
    MAX(v.verified_at) AS last_checked_at,
    MAX(CASE WHEN v.verified_at = l.latest THEN CASE WHEN v.matches THEN 1 ELSE 0 END END) = 1 AS latest_check_matched
FROM {schema}.verified_days v
JOIN (SELECT metric_date, MAX(verified_at) AS latest FROM {schema}.verified_days GROUP BY metric_date) l
    ON l.metric_date = v.metric_date
GROUP BY v.metric_date;
