-- A delivery's body is the exact bytes sent and signed at every attempt: needed until it
-- is delivered, then not (the alert it carries is kept, with every number it showed).
-- record_outcomes (db/deliveries.py) now drops it when a delivery is delivered: a body is
-- some 600 bytes, and every alert is one delivery per subscription (bench/longrun.py:
-- 545 bytes of deliveries per stored close, most of it bodies). A failed delivery keeps
-- its body, to be looked at. Bodies delivered before this migration age out with their
-- deliveries (RetentionSettings.deliveries_days); no table rewrite here.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_test_has_no_body;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_body CHECK (
    CASE WHEN event_type = 'subscription.test' THEN body IS NULL  -- the sender writes it
         WHEN status <> 'delivered' THEN body IS NOT NULL
         ELSE true END);
