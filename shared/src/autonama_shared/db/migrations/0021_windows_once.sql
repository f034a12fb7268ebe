-- A window is stored only where the key's own stored closes do not already hold it
-- (db/store.py): a live key's closes are one every candle, each with its candle and its
-- bands, so after a window's span of them its chart is those closes alone
-- (queries/windows.py). Until now every change of signal stored the whole window again:
-- 1,350 bytes per stored close at 1m with 1,440-candle windows (bench/longrun.py).

-- The length of one candle of interval iv (a month for '1M').
CREATE FUNCTION autonama_interval_step(iv text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE iv
        WHEN '1s' THEN interval '1 second'
        WHEN '1m' THEN interval '1 minute'
        WHEN '3m' THEN interval '3 minutes'
        WHEN '5m' THEN interval '5 minutes'
        WHEN '15m' THEN interval '15 minutes'
        WHEN '30m' THEN interval '30 minutes'
        WHEN '1h' THEN interval '1 hour'
        WHEN '2h' THEN interval '2 hours'
        WHEN '4h' THEN interval '4 hours'
        WHEN '6h' THEN interval '6 hours'
        WHEN '8h' THEN interval '8 hours'
        WHEN '12h' THEN interval '12 hours'
        WHEN '1d' THEN interval '1 day'
        WHEN '3d' THEN interval '3 days'
        WHEN '1w' THEN interval '7 days'
        WHEN '1M' THEN interval '1 month'
    END
$$;
