-- Deliveries are updated twice each (leased, then delivered or retried; a delivered one
-- also drops its body, migration 0022), so the table holds two dead row versions per
-- delivery until vacuumed. With the default trigger (50 rows + 20% of the table) a month of
-- deliveries (some 19 million at 400 pairs x 2 parameter sets and 10 subscriptions) would
-- be vacuumed every three days or so, with up to a fifth of it dead meanwhile. At 1% it is
-- vacuumed every few hours and the space of the dead versions is reused by the next ones
-- (bench/longrun.py models autovacuum at the market's pace with these settings).
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.01,
                            autovacuum_vacuum_threshold = 1000);
