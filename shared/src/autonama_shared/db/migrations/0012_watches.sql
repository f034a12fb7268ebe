-- What the live market follows (besides the default watch of the settings): each watch a
-- universe, intervals and parameter sets (autonama_shared.sources.live.WatchSpec, as JSON).
-- The fetcher reads them every few seconds; they survive every restart.
CREATE TABLE watches (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    spec       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The last candle the live feed published per stream (``btcusdt@kline_1m``), written after
-- the broker acknowledged it: a fetcher that starts again publishes what closed since,
-- one candle at a time, and nothing twice.
CREATE TABLE live_streams (
    stream         text PRIMARY KEY,
    last_open_time bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The API manages them as it manages subscriptions: through autonama_subscriptions.
DO $$
BEGIN
    GRANT SELECT, INSERT, DELETE ON watches TO autonama_subscriptions;
    GRANT USAGE, SELECT ON SEQUENCE watches_id_seq TO autonama_subscriptions;
END
$$;
