-- Least privilege, per table and per column (tests/integration/test_roles.py logs in as
-- each role and tries every forbidden thing):
--
--   autonama_writers        the writer of signals (ingestor, fetcher): no tokens, no
--                           subscriptions, no deliveries
--   autonama_notifiers      the notifier: the only role that reads webhook secrets and
--                           targets; moves deliveries on; reads nothing of the market
--   autonama_reader         the API's reads: no subscription, secret, target or delivery;
--                           of the tokens only what verifying one needs (hash, scope,
--                           revocation)
--   autonama_subscriptions  the API's writes: creates, lists (never the secret), enables
--                           and deletes subscriptions; queues test events (no body, so it
--                           cannot forge a message the notifier would sign) and nothing else
DO $$
DECLARE
    s text := current_schema();
BEGIN
    BEGIN
        CREATE ROLE autonama_notifiers NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN
        NULL;  -- created by deploy/postgres/roles.sql, another schema, or concurrently
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO autonama_notifiers', s);
    -- Whoever runs the migrations may act as each role (the tests do).
    EXECUTE format('GRANT autonama_notifiers TO %I', current_user);

    -- the writer of signals
    REVOKE ALL ON api_tokens, subscriptions, deliveries, delivery_attempts
        FROM autonama_writers;
    REVOKE ALL ON SEQUENCE api_tokens_id_seq, subscriptions_id_seq, deliveries_id_seq
        FROM autonama_writers;

    -- the API's reader
    REVOKE ALL ON api_tokens, subscriptions, deliveries, delivery_attempts
        FROM autonama_reader;
    GRANT SELECT (sha256, scope, revoked_at) ON api_tokens TO autonama_reader;

    -- the API's writer
    REVOKE ALL ON subscriptions, deliveries, delivery_attempts FROM autonama_subscriptions;
    GRANT SELECT (id, name, kind, url, filter, template, enabled, disabled_reason,
                  consecutive_failures, created_at, updated_at) ON subscriptions
        TO autonama_subscriptions;
    GRANT INSERT (name, kind, url, secret, filter, template) ON subscriptions
        TO autonama_subscriptions;
    GRANT UPDATE (enabled, disabled_reason, consecutive_failures, updated_at) ON subscriptions
        TO autonama_subscriptions;
    GRANT DELETE ON subscriptions TO autonama_subscriptions;
    GRANT SELECT (id, subscription_id, alert_id, message_id, key, event_type, status,
                  attempts, next_attempt_at, last_status_code, last_error, last_latency_ms,
                  created_at, finished_at) ON deliveries TO autonama_subscriptions;
    GRANT INSERT (subscription_id, message_id, key, event_type) ON deliveries
        TO autonama_subscriptions;
    GRANT SELECT ON delivery_attempts TO autonama_subscriptions;

    -- the notifier
    GRANT SELECT ON schema_migrations TO autonama_notifiers;
    GRANT SELECT ON subscriptions TO autonama_notifiers;
    GRANT UPDATE (enabled, disabled_reason, consecutive_failures, updated_at) ON subscriptions
        TO autonama_notifiers;
    GRANT SELECT, INSERT, UPDATE ON deliveries TO autonama_notifiers;
    GRANT SELECT, INSERT ON delivery_attempts TO autonama_notifiers;
    GRANT USAGE, SELECT ON SEQUENCE deliveries_id_seq TO autonama_notifiers;
END
$$;
