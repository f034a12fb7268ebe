-- Alerts: a BUY or SELL signal that is new for its key (symbol, interval,
-- parameters) on a newer candle than any before it: the signal changed, or was
-- confirmed on a newer candle. Re-storing a signal (a replay, a duplicate file)
-- inserts no signal row, so it raises nothing.
--
-- Alert ids are assigned and committed in order: the ingestor takes a
-- transaction-level advisory lock before inserting alerts, so a reader that
-- has seen alert N has seen every alert below N (what resuming a stream by
-- Last-Event-ID relies on).
CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    signal_id        bigint NOT NULL UNIQUE REFERENCES signals (id) ON DELETE CASCADE,
    symbol           text NOT NULL,
    interval         text NOT NULL,
    degree           smallint NOT NULL,
    kstd             double precision NOT NULL,
    price_scale      text NOT NULL,
    days             integer NOT NULL,
    signal           text NOT NULL CHECK (signal IN ('BUY', 'SELL')),
    previous_signal  text CHECK (previous_signal IN ('BUY', 'SELL', 'HOLD')),
    reason           text NOT NULL CHECK (reason IN ('new', 'changed', 'confirmed')),
    price            double precision NOT NULL,
    lower_band       double precision NOT NULL,
    upper_band       double precision NOT NULL,
    fit              double precision NOT NULL,
    potential_return double precision NOT NULL,
    target_return    double precision NOT NULL,
    last_candle_time timestamptz NOT NULL,
    scan_id          uuid,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_symbol ON alerts (symbol, interval, id DESC);
CREATE INDEX alerts_potential ON alerts (potential_return DESC, id DESC);
CREATE INDEX alerts_created ON alerts (created_at DESC, id DESC);

-- The API reads through this role and nothing else: SELECT only.
DO $$
BEGIN
    BEGIN
        CREATE ROLE autonama_reader NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN
        NULL;  -- created by another schema's migration, or concurrently
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO autonama_reader', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO autonama_reader', current_schema());
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO autonama_reader',
        current_schema());
    -- Whoever runs the migrations may act as the reader (SET ROLE).
    EXECUTE format('GRANT autonama_reader TO %I', current_user);
END
$$;
