-- Deliveries: a lease of its own per claim, and test events the API cannot forge.
--
-- lease_id: each claim stamps its rows with a new id, and an outcome is written only
-- where the id is still the one claimed; a sender that outlived its lease (another
-- replica took the delivery over) can no longer turn a delivered row back to pending.
ALTER TABLE deliveries ADD COLUMN lease_id uuid;
-- Claims read each subscription's due deliveries as one short index range, round-robin
-- across subscriptions (a backlog of one never hides the others').
CREATE INDEX deliveries_due_per_subscription ON deliveries (subscription_id, next_attempt_at, id)
    WHERE status = 'pending';

-- A test event is queued by the API without a body (the notifier writes it when it sends),
-- under a msg_test_ id; every other delivery has its body. With the column grants of
-- migration 0015 (the API may insert no body), the API's role cannot queue a message that
-- the notifier would sign with a subscription's secret, nor take an alert's message id.
ALTER TABLE deliveries ALTER COLUMN body DROP NOT NULL;
UPDATE deliveries SET body = NULL WHERE event_type = 'subscription.test';
ALTER TABLE deliveries ADD CONSTRAINT deliveries_test_has_no_body
    CHECK ((event_type = 'subscription.test') = (body IS NULL));
ALTER TABLE deliveries ADD CONSTRAINT deliveries_test_ids
    CHECK (event_type <> 'subscription.test'
           OR (alert_id IS NULL AND message_id LIKE 'msg\_test\_%'));
ALTER TABLE deliveries ADD CONSTRAINT deliveries_alert_ids
    CHECK (event_type = 'subscription.test' OR alert_id IS NOT NULL);
