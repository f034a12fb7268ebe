-- What the API's processes share, so that a limit holds across all of them:
--
-- stream_tickets: a short-lived, single-use ticket that opens one live stream when reads
--   need a token (a browser's EventSource cannot send a header, and a long-lived token in
--   a URL ends up in access logs and proxies); only its SHA-256 is stored.
-- api_write_budget: each token's (or, with auth off, each address's) bucket of writes,
--   refilled at writes_per_minute a minute up to as many, spent by every API process alike.
CREATE TABLE stream_tickets (
    sha256     text PRIMARY KEY,
    scope      text NOT NULL CHECK (scope IN ('read', 'write')),
    expires_at timestamptz NOT NULL
);

CREATE TABLE api_write_budget (
    who          text PRIMARY KEY,
    tokens       double precision NOT NULL,
    updated_at   timestamptz NOT NULL,
    last_allowed boolean NOT NULL
);

DO $$
BEGIN
    REVOKE ALL ON stream_tickets, api_write_budget FROM autonama_reader, autonama_writers;
    GRANT SELECT, INSERT, DELETE ON stream_tickets TO autonama_subscriptions;
    GRANT SELECT, INSERT, UPDATE, DELETE ON api_write_budget TO autonama_subscriptions;
END
$$;
