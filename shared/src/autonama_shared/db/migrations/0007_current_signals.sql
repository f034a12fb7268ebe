-- The latest signal of every key (symbol, interval, parameters), HOLD included,
-- with its bands, its candle time and the id of its alert if it raised one.
-- The ingestor keeps it in the transaction that stores the signals: a newer
-- candle replaces a key's row, an older one (out of order) or a replay never
-- does. Current alerts, the summary and the top lists read it: the cost of a
-- page is the page, not the history.
CREATE TABLE current_signals (
    symbol           text NOT NULL,
    interval         text NOT NULL,
    degree           smallint NOT NULL,
    kstd             double precision NOT NULL,
    price_scale      text NOT NULL,
    days             integer NOT NULL,
    signal_id        bigint NOT NULL UNIQUE REFERENCES signals (id) ON DELETE CASCADE,
    signal           text NOT NULL CHECK (signal IN ('BUY', 'SELL', 'HOLD')),
    price            double precision NOT NULL,
    lower_band       double precision NOT NULL,
    upper_band       double precision NOT NULL,
    fit              double precision NOT NULL,
    sigma            double precision NOT NULL,
    potential_return double precision NOT NULL,
    target_return    double precision NOT NULL,
    last_candle_time timestamptz NOT NULL,
    alert_id         bigint UNIQUE REFERENCES alerts (id) ON DELETE SET NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, interval, degree, kstd, price_scale, days)
);
CREATE INDEX current_signals_potential ON current_signals (signal, potential_return DESC)
    WHERE alert_id IS NOT NULL;
-- The API's ETags: the newest change of the current state.
CREATE INDEX current_signals_updated ON current_signals (updated_at);

-- Backfill: the newest signal of each key and its alert.
INSERT INTO current_signals (symbol, interval, degree, kstd, price_scale, days, signal_id,
                             signal, price, lower_band, upper_band, fit, sigma,
                             potential_return, target_return, last_candle_time, alert_id)
SELECT DISTINCT ON (s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days)
       s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days, s.id, s.signal,
       s.price, s.lower_band, s.upper_band, s.fit, s.sigma, s.potential_return,
       s.target_return, s.last_candle_time, a.id
FROM signals s LEFT JOIN alerts a ON a.signal_id = s.id
ORDER BY s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days,
         s.last_candle_time DESC, s.id DESC;
