-- Migration 003 (DuckDB): queue_metrics_daily.loaded_date, the local date (in time_zone) of loaded_at,
-- computed by the job at load time (settings.FACT_COLUMNS), and v_queue_daily_kpis reading it.
-- Redshift documents AT TIME ZONE and CONVERT_TIMEZONE with a literal zone only (Redshift SQL
-- reference, "AT TIME ZONE function", "CONVERT_TIMEZONE function"), so the view no longer converts
-- with a column-valued zone. The view's columns and formulas are those of migration 002.
--   is_provisional = loaded_date - metric_date < settle_days (the latest load of the day's rows).

ALTER TABLE {schema}.queue_metrics_daily ADD COLUMN loaded_date DATE;

-- Rows loaded before this migration: DuckDB converts with a column-valued zone.
UPDATE {schema}.queue_metrics_daily
SET loaded_date = CAST(loaded_at AT TIME ZONE time_zone AS DATE)
WHERE loaded_date IS NULL AND loaded_at IS NOT NULL AND time_zone IS NOT NULL;

CREATE OR REPLACE VIEW {schema}.v_queue_daily_kpis AS
SELECT
    k.metric_date,
    k.queue_id,
    q.name AS queue_name,
    k.media_type,
    k.offered,
    k.answered,
    k.abandoned,
    CAST(k.abandoned AS DOUBLE) / NULLIF(k.offered, 0) AS abandon_rate,
    100.0 * k.sl_numerator / NULLIF(k.sl_denominator, 0) AS service_level_pct,
    k.answered_ms / NULLIF(k.answered, 0) / 1000.0 AS asa_seconds,
    k.handle_ms / NULLIF(k.handle_count, 0) / 1000.0 AS aht_seconds,
    k.talk_ms / NULLIF(k.talk_count, 0) / 1000.0 AS avg_talk_seconds,
    k.hold_ms / NULLIF(k.hold_count, 0) / 1000.0 AS avg_hold_seconds,
    k.acw_ms / NULLIF(k.acw_count, 0) / 1000.0 AS avg_acw_seconds,
    k.transfers,
    k.loaded_date - k.metric_date < s.settle_days AS is_provisional
FROM (
    SELECT
        f.metric_date,
        f.queue_id,
        f.media_type,
        CAST(COALESCE(SUM(CASE WHEN f.metric = 'nOffered' THEN f.stat_count END), 0) AS BIGINT) AS offered,
        CAST(COALESCE(SUM(CASE WHEN f.metric = 'tAnswered' THEN f.stat_count END), 0) AS BIGINT) AS answered,
        CAST(COALESCE(SUM(CASE WHEN f.metric = 'tAbandon' THEN f.stat_count END), 0) AS BIGINT) AS abandoned,
        CAST(COALESCE(SUM(CASE WHEN f.metric = 'nTransferred' THEN f.stat_count END), 0) AS BIGINT) AS transfers,
        SUM(CASE WHEN f.metric = 'oServiceLevel' THEN f.stat_numerator END) AS sl_numerator,
        SUM(CASE WHEN f.metric = 'oServiceLevel' THEN f.stat_denominator END) AS sl_denominator,
        SUM(CASE WHEN f.metric = 'tAnswered' THEN f.stat_sum END) AS answered_ms,
        SUM(CASE WHEN f.metric = 'tHandle' THEN f.stat_sum END) AS handle_ms,
        SUM(CASE WHEN f.metric = 'tHandle' THEN f.stat_count END) AS handle_count,
        SUM(CASE WHEN f.metric = 'tTalkComplete' THEN f.stat_sum END) AS talk_ms,
        SUM(CASE WHEN f.metric = 'tTalkComplete' THEN f.stat_count END) AS talk_count,
        SUM(CASE WHEN f.metric = 'tHeldComplete' THEN f.stat_sum END) AS hold_ms,
        SUM(CASE WHEN f.metric = 'tHeldComplete' THEN f.stat_count END) AS hold_count,
        SUM(CASE WHEN f.metric = 'tAcw' THEN f.stat_sum END) AS acw_ms,
        SUM(CASE WHEN f.metric = 'tAcw' THEN f.stat_count END) AS acw_count,
        MAX(f.loaded_date) AS loaded_date
    FROM {schema}.queue_metrics_daily f
    WHERE COALESCE(f.qualifier, '') = ''
    GROUP BY f.metric_date, f.queue_id, f.media_type
) k
LEFT JOIN {schema}.queues q ON q.queue_id = k.queue_id
LEFT JOIN (
    SELECT CAST(value AS INTEGER) AS settle_days FROM {schema}.etl_settings WHERE name = 'settle_days'
) s ON 1 = 1;
