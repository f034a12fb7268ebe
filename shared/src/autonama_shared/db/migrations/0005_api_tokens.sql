-- API tokens: `autonama token create` prints a token once and stores only its
-- SHA-256 (a token is 256 random bits, so a fast hash is enough: nothing to
-- guess). The API reads this table through its read-only role.
CREATE TABLE api_tokens (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    scope      text NOT NULL CHECK (scope IN ('read', 'write')),
    prefix     text NOT NULL,
    sha256     text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
