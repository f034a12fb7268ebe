-- Every BUY or SELL alert's outcome (#28, the rules in engine/outcomes.py), kept by the
-- ingestor as its key's bars close (db/outcomes.py) and final after 20 bars: kept here,
-- the outcome outlives the closes it was computed from (retention drops those).
CREATE TABLE alert_outcomes (
    alert_id                bigint PRIMARY KEY REFERENCES alerts (id),
    entry_time              timestamptz,
    entry_price             double precision,
    return_1                double precision,
    return_5                double precision,
    return_20               double precision,
    target_price            double precision NOT NULL,
    target_hit_after        smallint CHECK (target_hit_after BETWEEN 1 AND 20),
    opposite_band_price     double precision NOT NULL,
    opposite_band_hit_after smallint CHECK (opposite_band_hit_after BETWEEN 1 AND 20),
    max_adverse             double precision CHECK (max_adverse <= 0),
    ended_after             smallint CHECK (ended_after BETWEEN 1 AND 20),
    bars_seen               smallint NOT NULL CHECK (bars_seen BETWEEN 0 AND 20),
    final                   boolean NOT NULL,
    -- still scored each round: not final, and its key not yet 40 bars past it (a key
    -- scanned now and then, whose bars never all come, is let go then)
    open                    boolean NOT NULL DEFAULT true,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (final = (bars_seen = 20)),
    CHECK (NOT (final AND open))
);
-- what the keeper scores: the open outcomes only, however many alerts there are
CREATE INDEX alert_outcomes_open ON alert_outcomes (alert_id) WHERE open;
-- the alerts the keeper has admitted (an outcome row each, BUY and SELL): from now on
INSERT INTO outbox_positions (name, last_id) SELECT 'outcomes', coalesce(max(id), 0) FROM alerts;
-- the notifier reads a key's track record into its messages ($hit_rate, $sample...):
-- which alerts are a key's, and their final outcomes' hit and 5-bar return; nothing else
GRANT SELECT (id, symbol, interval, degree, kstd, price_scale, days, last_candle_time) ON alerts
    TO autonama_notifiers;
GRANT SELECT (alert_id, target_hit_after, return_5, final) ON alert_outcomes
    TO autonama_notifiers;
