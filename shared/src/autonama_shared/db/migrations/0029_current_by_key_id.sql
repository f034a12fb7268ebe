-- The current state by key id (#27): current_signals names its key by signal_keys' 4-byte
-- id, its primary key, as closes do (migration 0024). The store decides each close's step
-- against its key's row by that id (it compared the six key columns, text among them) and
-- upserts on it. The key's columns stay, for the readers, with an index on the symbol and
-- interval they look keys up by.
--
-- Every upsert of a close used to write a new entry in each of the table's five indexes:
-- its signal id and update time (indexed, and changed by every close) made no update HOT.
-- Those two indexes go: the API's state version reads the newest update time over the
-- table (one row a key), and a pruned chart looks its signal up there only after its
-- close was not found. With room left on each page (fillfactor 70), a close that raises
-- no alert updates its key's row in place (a HOT update: no index entry written).

INSERT INTO signal_keys (symbol, interval, degree, kstd, price_scale, days)
SELECT symbol, interval, degree, kstd, price_scale, days FROM current_signals
ON CONFLICT DO NOTHING;

ALTER TABLE current_signals ADD COLUMN key_id integer;
UPDATE current_signals c SET key_id = k.id
FROM signal_keys k
WHERE (k.symbol, k.interval, k.degree, k.kstd, k.price_scale, k.days)
    = (c.symbol, c.interval, c.degree, c.kstd, c.price_scale, c.days);
ALTER TABLE current_signals ALTER COLUMN key_id SET NOT NULL;

ALTER TABLE current_signals DROP CONSTRAINT current_signals_pkey;
ALTER TABLE current_signals ADD PRIMARY KEY (key_id);
CREATE INDEX current_signals_symbol ON current_signals (symbol, interval);
ALTER TABLE current_signals DROP CONSTRAINT current_signals_signal_id_key;
DROP INDEX current_signals_updated;
ALTER TABLE current_signals SET (fillfactor = 70);
