-- The window behind a signal, packed: each column holds its values as 8-byte
-- big-endian numbers, one after another (the byte order of int8send/float8send):
-- open_time as int64 ms since the epoch, the others as float64; open, high and
-- low are NULL when the source had closes only (results files).
--
-- Why not arrays (band_series): storing a float8[] costs the client and the
-- server a conversion per value, about 0.35 us each here; a 720-candle window
-- with its candles is 6,480 values, 2.3 ms a signal, which capped the ingestor
-- near 430 signals a second. A packed column is one value to copy, and a reader
-- unpacks it in one call (numpy.frombuffer). The ingestor checks that every
-- value is finite before packing (NaN and infinity never reach the table).
--
-- band_series keeps the windows stored before this migration (rewriting them
-- could take hours on a large database); readers look in both tables.
CREATE TABLE band_windows (
    signal_id  bigint PRIMARY KEY REFERENCES signals (id) ON DELETE CASCADE,
    candles    integer NOT NULL CHECK (candles BETWEEN 1 AND 100000),
    open_time  bytea NOT NULL,
    open       bytea,
    high       bytea,
    low        bytea,
    close      bytea NOT NULL,
    fit        bytea NOT NULL,
    lower_band bytea NOT NULL,
    upper_band bytea NOT NULL,
    CONSTRAINT band_windows_lengths CHECK (
        length(open_time) = 8 * candles AND length(close) = 8 * candles
        AND length(fit) = 8 * candles AND length(lower_band) = 8 * candles
        AND length(upper_band) = 8 * candles
        AND coalesce(length(open) = 8 * candles, true)
        AND coalesce(length(high) = 8 * candles, true)
        AND coalesce(length(low) = 8 * candles, true))
);

-- The fitted columns are full-precision floats that do not compress (measured:
-- 5,760 bytes stored as 5,760); trying costs the writer time, so they are stored
-- out of line as they are. Prices (two decimals) halve, times compress to little.
ALTER TABLE band_windows ALTER COLUMN fit SET STORAGE EXTERNAL;
ALTER TABLE band_windows ALTER COLUMN lower_band SET STORAGE EXTERNAL;
ALTER TABLE band_windows ALTER COLUMN upper_band SET STORAGE EXTERNAL;
