-- Backtests run through the pipeline: the request and its progress, and one
-- row per symbol (idempotent: a replayed result is the same row). The
-- reported run's equity curve is kept as arrays for the chart.
CREATE TABLE backtests (
    backtest_id      uuid PRIMARY KEY,
    origin           text NOT NULL,
    parameters       jsonb NOT NULL,
    universe         jsonb NOT NULL,
    requested_at     timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    symbols_expected integer,
    symbols_done     integer NOT NULL DEFAULT 0,
    symbols_failed   integer NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'requested'
                     CHECK (status IN ('requested', 'running', 'finished', 'failed')),
    error            text
);
CREATE INDEX backtests_requested_at ON backtests (requested_at DESC);

CREATE TABLE backtest_results (
    backtest_id    uuid NOT NULL,
    symbol         text NOT NULL,
    status         text NOT NULL CHECK (status IN ('done', 'failed')),
    result         jsonb NOT NULL,           -- the report row (SymbolBacktest)
    equity_time    bigint[],                 -- ms since the epoch, UTC
    equity         double precision[],
    hold_equity    double precision[],
    engine_version text NOT NULL,
    computed_at    timestamptz NOT NULL,
    PRIMARY KEY (backtest_id, symbol)
);
