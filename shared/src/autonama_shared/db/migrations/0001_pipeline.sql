-- The event pipeline's storage: scans and their progress, signals, band series,
-- the latest signal per key, and the history of offline-file ingestions.

CREATE TABLE scans (
    scan_id          uuid PRIMARY KEY,
    origin           text NOT NULL CHECK (origin IN ('cli', 'api', 'schedule', 'test', 'file')),
    interval         text NOT NULL,
    days             integer NOT NULL CHECK (days BETWEEN 1 AND 720),
    degree           smallint NOT NULL CHECK (degree BETWEEN 2 AND 10),
    kstd             double precision NOT NULL CHECK (kstd BETWEEN 1.0 AND 3.0),
    price_scale      text NOT NULL CHECK (price_scale IN ('linear', 'log')),
    window_candles   integer,
    universe         jsonb NOT NULL,           -- {"symbols": [...]} or {"top": N} or {"core": true}
    schedule         text,                     -- "name@close" for scheduled scans
    requested_at     timestamptz NOT NULL,
    started_at       timestamptz,              -- when the fetcher planned it
    finished_at      timestamptz,
    symbols_expected integer,
    symbols_done     integer NOT NULL DEFAULT 0,
    symbols_failed   integer NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'requested'
                     CHECK (status IN ('requested', 'running', 'finished', 'failed')),
    error            text
);
CREATE INDEX scans_requested_at ON scans (requested_at DESC);

-- One row per symbol of a scan: done (with its signal) or failed (with why).
-- Its primary key makes progress idempotent: a replayed signal counts once.
-- No foreign key to scans: a signal may be stored before its scan's plan
-- arrives (they travel on different topics).
CREATE TABLE scan_symbols (
    scan_id   uuid NOT NULL,
    symbol    text NOT NULL,
    status    text NOT NULL CHECK (status IN ('done', 'failed')),
    signal_id bigint,
    error     text,
    PRIMARY KEY (scan_id, symbol)
);

-- One row per symbol x interval x parameters x last candle: the same signal
-- delivered twice (replay, rebalance, restart, a duplicate file) is one row.
CREATE TABLE signals (
    id               bigserial PRIMARY KEY,
    symbol           text NOT NULL,
    interval         text NOT NULL,
    degree           smallint NOT NULL,
    kstd             double precision NOT NULL,
    price_scale      text NOT NULL,
    days             integer NOT NULL,
    last_candle_time timestamptz NOT NULL,     -- open time of the last closed candle
    signal           text NOT NULL CHECK (signal IN ('BUY', 'SELL', 'HOLD')),
    price            double precision NOT NULL,
    lower_band       double precision NOT NULL,
    upper_band       double precision NOT NULL,
    fit              double precision NOT NULL,
    sigma            double precision NOT NULL,
    potential_return double precision NOT NULL,
    target_return    double precision NOT NULL,
    candles          integer NOT NULL,
    window_candles   integer NOT NULL,
    partial_window   boolean NOT NULL,
    scan_id          uuid,
    origin           text NOT NULL,
    engine_version   text NOT NULL,
    computed_at      timestamptz NOT NULL,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT signals_key UNIQUE (symbol, interval, degree, kstd, price_scale, days, last_candle_time)
);
-- No other index on signals: the unique key serves lookups by symbol and
-- interval, scan_symbols leads from a scan to its signals, and every extra index
-- costs the ingestor's write rate. The API's own queries add theirs.

-- The window behind a signal, for charts without refetching. Arrays in one row
-- per signal: a chart reads the whole window at once, PostgreSQL compresses the
-- row (TOAST), and there is no per-candle row overhead (a 720-candle window
-- would otherwise be 720 rows with their headers and index entries).
CREATE TABLE band_series (
    signal_id  bigint PRIMARY KEY REFERENCES signals (id) ON DELETE CASCADE,
    open_time  bigint[] NOT NULL,             -- ms since the epoch, UTC
    open       double precision[],             -- NULL when the source had closes only (files)
    high       double precision[],
    low        double precision[],
    close      double precision[] NOT NULL,
    fit        double precision[] NOT NULL,
    lower_band double precision[] NOT NULL,
    upper_band double precision[] NOT NULL
);

-- The current signal per (symbol, interval, parameters): the newest candle wins.
CREATE VIEW latest_signals AS
SELECT DISTINCT ON (symbol, interval, degree, kstd, price_scale, days) *
FROM signals
ORDER BY symbol, interval, degree, kstd, price_scale, days, last_candle_time DESC, id DESC;

-- Every offline results file seen: ingested, duplicate or rejected, and why.
CREATE TABLE ingestions (
    id          bigserial PRIMARY KEY,
    file_name   text NOT NULL,
    sha256      text NOT NULL,
    size_bytes  bigint NOT NULL,
    rows        integer NOT NULL DEFAULT 0,
    status      text NOT NULL CHECK (status IN ('ingested', 'duplicate', 'rejected')),
    error       text,
    scan_id     uuid,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ingestions_one_per_content ON ingestions (sha256) WHERE status = 'ingested';
CREATE INDEX ingestions_recent ON ingestions (ingested_at DESC);

-- Scheduled scans claimed per (schedule, candle close): the first fetcher
-- replica to insert the row starts the scan; every other one sees the conflict.
CREATE TABLE schedule_claims (
    schedule   text NOT NULL,
    close_time timestamptz NOT NULL,
    scan_id    uuid NOT NULL,
    claimed_by text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule, close_time)
);
