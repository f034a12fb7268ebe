-- The open, high and low of each signal's last candle (its close is the signal's price).
-- A live close travels without its window (only a key's first signal and the changes of
-- its signal carry one); with these its candle still joins its key's chart. NULL for
-- signals stored before, and for results files (closes only).
ALTER TABLE signals
    ADD COLUMN candle_open double precision
        CHECK (candle_open >= 0 AND candle_open < 'Infinity'),
    ADD COLUMN candle_high double precision
        CHECK (candle_high >= 0 AND candle_high < 'Infinity'),
    ADD COLUMN candle_low  double precision
        CHECK (candle_low >= 0 AND candle_low < 'Infinity');
