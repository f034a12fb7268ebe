-- Every number stored is finite: the database refuses NaN and Infinity too, as
-- the last line behind the validation of events and files. In PostgreSQL NaN
-- sorts above every number, so `x > '-Infinity' AND x < 'Infinity'` is false for
-- NaN and both infinities (and NULL passes, as in every CHECK); for arrays, `&&`
-- (overlap) finds any of the three. NOT VALID: rows stored before are left as
-- they are (nothing stored is lost), every new or changed row is checked.
ALTER TABLE signals ADD CONSTRAINT signals_finite CHECK (
    kstd > '-Infinity' AND kstd < 'Infinity'
    AND price > '-Infinity' AND price < 'Infinity'
    AND lower_band > '-Infinity' AND lower_band < 'Infinity'
    AND upper_band > '-Infinity' AND upper_band < 'Infinity'
    AND fit > '-Infinity' AND fit < 'Infinity'
    AND sigma > '-Infinity' AND sigma < 'Infinity'
    AND potential_return > '-Infinity' AND potential_return < 'Infinity'
    AND target_return > '-Infinity' AND target_return < 'Infinity'
) NOT VALID;

ALTER TABLE alerts ADD CONSTRAINT alerts_finite CHECK (
    kstd > '-Infinity' AND kstd < 'Infinity'
    AND price > '-Infinity' AND price < 'Infinity'
    AND lower_band > '-Infinity' AND lower_band < 'Infinity'
    AND upper_band > '-Infinity' AND upper_band < 'Infinity'
    AND fit > '-Infinity' AND fit < 'Infinity'
    AND potential_return > '-Infinity' AND potential_return < 'Infinity'
    AND target_return > '-Infinity' AND target_return < 'Infinity'
) NOT VALID;

ALTER TABLE band_series ADD CONSTRAINT band_series_finite CHECK (
    NOT coalesce(open && '{NaN,Infinity,-Infinity}'::double precision[], false)
    AND NOT coalesce(high && '{NaN,Infinity,-Infinity}'::double precision[], false)
    AND NOT coalesce(low && '{NaN,Infinity,-Infinity}'::double precision[], false)
    AND NOT (close && '{NaN,Infinity,-Infinity}'::double precision[])
    AND NOT (fit && '{NaN,Infinity,-Infinity}'::double precision[])
    AND NOT (lower_band && '{NaN,Infinity,-Infinity}'::double precision[])
    AND NOT (upper_band && '{NaN,Infinity,-Infinity}'::double precision[])
) NOT VALID;

-- What the long-running parts of the workers report about themselves (the
-- ingestor's drop-folder watcher), for the API's /readyz: one row per part.
CREATE TABLE worker_status (
    name       text PRIMARY KEY,
    running    boolean NOT NULL,
    detail     text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
