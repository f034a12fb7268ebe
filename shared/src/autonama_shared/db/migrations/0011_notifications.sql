-- Notifications: the alerts table is the outbox; a relay publishes its rows to Kafka in id
-- order and records here how far it got, in the transaction that holds this row's lock
-- (so one relay runs at a time, and a crash re-publishes rather than loses).
CREATE TABLE outbox_positions (
    name       text PRIMARY KEY,
    last_id    bigint NOT NULL CHECK (last_id >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Alerts stored before notifications existed are not announced again.
INSERT INTO outbox_positions (name, last_id) SELECT 'alerts', coalesce(max(id), 0) FROM alerts;

-- Who wants which alerts, and where: a webhook (signed with its secret, Standard
-- Webhooks) or an Apprise URL (Telegram, Discord, Slack, e-mail, ntfy...).
CREATE TABLE subscriptions (
    id                   bigserial PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                 text NOT NULL CHECK (kind IN ('webhook', 'apprise')),
    url                  text NOT NULL CHECK (length(url) BETWEEN 4 AND 2000),
    secret               text CHECK (secret LIKE 'whsec_%'),
    filter               jsonb NOT NULL,
    template             text,
    enabled              boolean NOT NULL DEFAULT true,
    disabled_reason      text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'webhook') = (secret IS NOT NULL)),
    CHECK (enabled OR disabled_reason IS NOT NULL)
);

-- One row per (subscription, message): the message id is the webhook-id header, the same
-- for every retry, so a receiver drops a duplicate. Deliveries of one subscription and one
-- key are made in id order: a row waits while an older one of its key is pending.
CREATE TABLE deliveries (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    alert_id         bigint REFERENCES alerts (id) ON DELETE CASCADE,  -- NULL: a test event
    message_id       text NOT NULL,
    key              text NOT NULL,
    event_type       text NOT NULL,
    body             text NOT NULL,  -- the exact bytes sent and signed, every attempt
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    leased_until     timestamptz,
    last_status_code integer,
    last_error       text,
    last_latency_ms  double precision,
    alert_created_at timestamptz,  -- commit-to-receipt latency, for the benchmark
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (subscription_id, message_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_key ON deliveries (subscription_id, key, id) WHERE status = 'pending';
CREATE INDEX deliveries_recent ON deliveries (subscription_id, id DESC);

CREATE TABLE delivery_attempts (
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    outcome     text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
    status_code integer,
    error       text,
    latency_ms  double precision NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- The API manages subscriptions through this role, and nothing else of the schema: it
-- still reads everything else as autonama_reader (read-only transactions).
DO $$
BEGIN
    BEGIN
        CREATE ROLE autonama_subscriptions NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN
        NULL;
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO autonama_subscriptions', current_schema());
    GRANT SELECT, INSERT, UPDATE, DELETE ON subscriptions TO autonama_subscriptions;
    GRANT SELECT, INSERT ON deliveries TO autonama_subscriptions;
    GRANT SELECT ON delivery_attempts TO autonama_subscriptions;
    GRANT USAGE, SELECT ON SEQUENCE subscriptions_id_seq, deliveries_id_seq
        TO autonama_subscriptions;
    EXECUTE format('GRANT autonama_subscriptions TO %I', current_user);
END
$$;
