-- Candles caught up for the outcomes of keys not followed live (#28): a key only scanned
-- now and then has no stored close for most bars after its alert, so its outcome would
-- stop at the first. The fetcher (which holds Binance, its candle cache and the weight
-- budget) writes here the candles of the bars that open outcomes still lack; the scorer
-- (db/outcomes.py) reads a bar from here where the key stored no close with its candle.
-- A candle is the exchange's, the same for every parameter set of the symbol: one row per
-- symbol, interval and open time. The fetcher deletes the bars no open outcome needs.
CREATE TABLE outcome_bars (
    symbol     text NOT NULL,
    interval   text NOT NULL,
    open_time  timestamptz NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, interval, open_time),
    CONSTRAINT outcome_bars_a_candle CHECK (
        open > 0 AND high > 0 AND low > 0 AND close > 0
        AND open < 'Infinity' AND high < 'Infinity' AND low < 'Infinity'
        AND close < 'Infinity'
        AND low <= least(open, close) AND high >= greatest(open, close))
);
