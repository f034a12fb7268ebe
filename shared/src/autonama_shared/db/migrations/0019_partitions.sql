-- Retention by partitions: signals and their windows are partitioned by interval, then by
-- candle time, so that what is past its interval's retention goes by dropping whole
-- partitions (no long DELETE, no bloat, no vacuum behind it).
--
--   signals                   PARTITION BY LIST (interval)
--     signals_1m              PARTITION BY RANGE (last_candle_time)
--       signals_1m_20260301   a day of 1m closes
--     signals_1h ...          a month of each interval from 1h to 12h, a year from 1d on
--
-- band_windows has the same layout (it gains the signal's interval and candle time).
-- Partitions are made on demand by the writer of signals (autonama_ensure_partition,
-- SECURITY DEFINER: the writers cannot create tables themselves) and ahead by the
-- retention job, recorded in signal_partitions, and dropped by autonama_drop_partitions.
--
-- Finished deliveries older than their keep go in batches (autonama_prune_deliveries).
--
-- Alerts and the current state refer to their signal by id without a foreign key: they
-- are never pruned, and carry every number they show; a chart of a pruned signal is
-- answered 410. band_series (windows stored before migration 0009) is not partitioned: it
-- does not grow.
--
-- Moving an existing database copies every signal and window once (see
-- docs/how-to/retention.md for how long it takes per million rows).

DROP VIEW latest_signals;
ALTER TABLE alerts DROP CONSTRAINT alerts_signal_id_fkey;
ALTER TABLE current_signals DROP CONSTRAINT current_signals_signal_id_fkey;
ALTER TABLE band_series DROP CONSTRAINT band_series_signal_id_fkey;

ALTER TABLE signals RENAME TO signals_unpartitioned;
ALTER INDEX signals_pkey RENAME TO signals_unpartitioned_pkey;
ALTER INDEX signals_key RENAME TO signals_unpartitioned_key;
ALTER TABLE band_windows RENAME TO band_windows_unpartitioned;
ALTER INDEX band_windows_pkey RENAME TO band_windows_unpartitioned_pkey;
ALTER SEQUENCE signals_id_seq OWNED BY NONE;

-- The same columns, defaults and checks (the signal id still drawn from signals_id_seq).
CREATE TABLE signals (LIKE signals_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY LIST (interval);
ALTER TABLE signals ADD CONSTRAINT signals_key
    UNIQUE (symbol, interval, degree, kstd, price_scale, days, last_candle_time);
CREATE INDEX signals_id ON signals (id);
ALTER SEQUENCE signals_id_seq OWNED BY signals.id;

-- The same columns and checks, the fitted columns still stored out of line uncompressed
-- (migration 0009), and where the window is: its signal's interval and candle time.
CREATE TABLE band_windows (
    LIKE band_windows_unpartitioned INCLUDING CONSTRAINTS INCLUDING STORAGE,
    interval         text NOT NULL,
    last_candle_time timestamptz NOT NULL,
    PRIMARY KEY (signal_id, interval, last_candle_time)
) PARTITION BY LIST (interval);

-- Every partition of candle times, as made: what retention drops, and what
-- `autonama db stats` shows.
CREATE TABLE signal_partitions (
    interval   text NOT NULL,
    starts     timestamptz NOT NULL,
    ends       timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (interval, starts),
    CHECK (ends > starts)
);

-- How long one partition of an interval's candle times spans.
CREATE FUNCTION autonama_partition_span(iv text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN iv IN ('1m', '3m', '5m', '15m', '30m') THEN interval '1 day'
        WHEN iv IN ('1h', '2h', '4h', '6h', '8h', '12h') THEN interval '1 month'
        ELSE interval '1 year'
    END
$$;

-- A table name's part for an interval: '1M' (a month) and '1m' (a minute) would be one
-- name once folded to lower case.
CREATE FUNCTION autonama_partition_tag(iv text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN iv = '1M' THEN '1mo' ELSE lower(iv) END
$$;

-- The start of the partition that holds interval iv's candle at `at`.
CREATE FUNCTION autonama_partition_start(iv text, at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT date_trunc(CASE autonama_partition_span(iv)
                          WHEN interval '1 day' THEN 'day'
                          WHEN interval '1 month' THEN 'month'
                          ELSE 'year' END, at, 'UTC')
$$;

-- The partitions of signals and band_windows that hold interval iv's candle at `at`,
-- made if missing (true when made). Serialised by an advisory lock: two writers at once
-- make it once.
CREATE FUNCTION autonama_ensure_partition(iv text, at timestamptz) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    lo timestamptz := autonama_partition_start(iv, at);
    tag text := autonama_partition_tag(iv);
    suffix text := to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
    t text;
BEGIN
    IF iv !~ '^[0-9]{1,2}[mhdwM]$' THEN
        RAISE EXCEPTION 'not an interval: %', iv;
    END IF;
    IF EXISTS (SELECT 1 FROM signal_partitions p WHERE p.interval = iv AND p.starts = lo) THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('autonama.partitions'));
    IF EXISTS (SELECT 1 FROM signal_partitions p WHERE p.interval = iv AND p.starts = lo) THEN
        RETURN false;
    END IF;
    FOREACH t IN ARRAY ARRAY['signals', 'band_windows'] LOOP
        IF to_regclass(format('%I', t || '_' || tag)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%L) '
                'PARTITION BY RANGE (last_candle_time)', t || '_' || tag, t, iv);
        END IF;
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       t || '_' || tag || '_' || suffix, t || '_' || tag, lo,
                       (lo AT TIME ZONE 'UTC' + autonama_partition_span(iv)) AT TIME ZONE 'UTC');
    END LOOP;
    INSERT INTO signal_partitions (interval, starts, ends)
    VALUES (iv, lo, (lo AT TIME ZONE 'UTC' + autonama_partition_span(iv)) AT TIME ZONE 'UTC');
    RETURN true;
END
$$;

-- Drops interval iv's partitions that end at or before `before` (signals and windows);
-- returns the start of each partition dropped.
CREATE FUNCTION autonama_drop_partitions(iv text, before timestamptz)
RETURNS SETOF timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    p record;
    tag text := autonama_partition_tag(iv);
    t text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('autonama.partitions'));
    FOR p IN SELECT starts FROM signal_partitions
             WHERE interval = iv AND ends <= before ORDER BY starts LOOP
        FOREACH t IN ARRAY ARRAY['signals', 'band_windows'] LOOP
            EXECUTE format('DROP TABLE IF EXISTS %I',
                           t || '_' || tag || '_' || to_char(p.starts AT TIME ZONE 'UTC', 'YYYYMMDD'));
        END LOOP;
        DELETE FROM signal_partitions WHERE interval = iv AND starts = p.starts;
        RETURN NEXT p.starts;
    END LOOP;
END
$$;

-- Deliveries are not partitioned (a delivery is updated until it is finished): finished
-- ones (delivered or failed) older than `before` go in batches of at most `batch`, their
-- attempts with them. A pending delivery is never pruned.
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE status <> 'pending';
CREATE FUNCTION autonama_prune_deliveries(before timestamptz, batch integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM deliveries WHERE id IN (
        SELECT id FROM deliveries
        WHERE status <> 'pending' AND finished_at < before
        ORDER BY finished_at LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION autonama_prune_deliveries(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION autonama_prune_deliveries(timestamptz, integer) TO autonama_writers;
REVOKE ALL ON FUNCTION autonama_ensure_partition(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION autonama_drop_partitions(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION autonama_ensure_partition(text, timestamptz) TO autonama_writers;
GRANT EXECUTE ON FUNCTION autonama_drop_partitions(text, timestamptz) TO autonama_writers;

-- Move what is stored: a partition for every interval and period held, then every row.
SELECT autonama_ensure_partition(interval, lo)
FROM (SELECT DISTINCT interval, autonama_partition_start(interval, last_candle_time) AS lo
      FROM signals_unpartitioned) held;
INSERT INTO signals SELECT * FROM signals_unpartitioned;
INSERT INTO band_windows (signal_id, interval, last_candle_time, candles, open_time, open,
                          high, low, close, fit, lower_band, upper_band)
SELECT w.signal_id, s.interval, s.last_candle_time, w.candles, w.open_time, w.open, w.high,
       w.low, w.close, w.fit, w.lower_band, w.upper_band
FROM band_windows_unpartitioned w JOIN signals_unpartitioned s ON s.id = w.signal_id;
DROP TABLE band_windows_unpartitioned;
DROP TABLE signals_unpartitioned;

-- The current signal per (symbol, interval, parameters): the newest candle wins.
CREATE VIEW latest_signals AS
SELECT DISTINCT ON (symbol, interval, degree, kstd, price_scale, days) *
FROM signals
ORDER BY symbol, interval, degree, kstd, price_scale, days, last_candle_time DESC, id DESC;
