-- Migration 002 (Redshift): v_queue_daily_kpis, the view analysts use. {schema} = quoted schema name.
-- One row per (metric_date, queue_id, media_type) present in queue_metrics_daily, from the
-- unqualified row of each metric (qualifier NULL or empty). Genesys omits a metric with no events,
-- so the counts below read 0 when their metric is absent; every ratio and average is NULL when its
-- denominator is 0 or absent (NULLIF), never a division error. Timers arrive in milliseconds.
--   offered            = nOffered.count
--   answered           = tAnswered.count
--   abandoned          = tAbandon.count
--   abandon_rate       = abandoned / offered                               (0..1)
--   service_level_pct  = 100 * oServiceLevel.numerator / oServiceLevel.denominator
--   asa_seconds        = tAnswered.sum / tAnswered.count / 1000            (average speed of answer)
--   aht_seconds        = tHandle.sum / tHandle.count / 1000                (average handle time)
--   avg_talk_seconds   = tTalkComplete.sum / tTalkComplete.count / 1000
--   avg_hold_seconds   = tHeldComplete.sum / tHeldComplete.count / 1000
--   avg_acw_seconds    = tAcw.sum / tAcw.count / 1000                      (after-call work)
--   transfers          = nTransferred.count
--   is_provisional     = the day was younger than settle_days when it was last loaded:
--                        (date of loaded_at) - metric_date < settle_days; migration 003 replaces the
--                        date with the local one the job stores (a column-valued AT TIME ZONE, which
--                        this file had before any Redshift ran it, is not documented by Redshift),
--                        settle_days from etl_settings (the job's --settle-days, default 3).
--                        It stays true until a later load re-pulls the day once it has settled (the
--                        nightly lookback does that), so a true flag means "these numbers may still
--                        change", even for an old day whose re-pull failed.

CREATE OR REPLACE VIEW {schema}.v_queue_daily_kpis AS
SELECT
    k.metric_date,
    k.queue_id,
    q.name AS queue_name,
    k.media_type,
    k.offered,
    k.answered,
    k.abandoned,
    CAST(k.abandoned AS DOUBLE PRECISION) / NULLIF(k.offered, 0) AS abandon_rate,
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
        MAX(CAST(f.loaded_at AS DATE)) AS loaded_date
    FROM {schema}.queue_metrics_daily f
    WHERE COALESCE(f.qualifier, '') = ''
    GROUP BY f.metric_date, f.queue_id, f.media_type
) k
LEFT JOIN {schema}.queues q ON q.queue_id = k.queue_id
LEFT JOIN (
    SELECT CAST(value AS INTEGER) AS settle_days FROM {schema}.etl_settings WHERE name = 'settle_days'
) s ON 1 = 1;
