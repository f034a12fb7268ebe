-- Where a key's closes run unbroken (#26): current_signals.run_start is the candle time of
-- the oldest close of the run of closes, one every candle, that ends at the key's current
-- one. The store keeps it (db/store.py: a batch's closes that follow the current one
-- extend the run, a gap starts a new one), and retention raises it when it drops a
-- partition. A new signal's window is stored only where the key's stored closes do not
-- hold it; with the run that test is two comparisons on the key's row, where it counted
-- up to a window's span of closes (1,439 at 1m), each a heap visit on pages too fresh for
-- an index-only scan: 0.5 ms a windowed signal, a quarter of the live storage path's time
-- (bench/longrun.py).
--
-- It never claims more than is stored: a late close that fills a gap is not credited (a
-- window stored that need not be, which is safe). The rows here start a run at their
-- current close: windows are stored again for a window's span after this migration.
--
-- The default, 'infinity', is "no run known": an ingestor of the version before, still
-- running while this migration is applied, inserts a key's row without it, and a NOT NULL
-- violation there would be a record's fault (its signals dead-lettered). Such a key's
-- windows are stored until the store starts its run again at its next close.
ALTER TABLE current_signals ADD COLUMN run_start timestamptz;
UPDATE current_signals SET run_start = last_candle_time;
ALTER TABLE current_signals ALTER COLUMN run_start SET DEFAULT 'infinity';
ALTER TABLE current_signals ALTER COLUMN run_start SET NOT NULL;
