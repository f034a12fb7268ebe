-- The dead letters an operator replayed (`autonama dlq replay`): a letter is named by its
-- own SHA-256 (its bytes include when and where it was set aside), so the same letter is
-- not replayed twice by accident, and /readyz counts the letters still waiting.
CREATE TABLE dead_letter_replays (
    letter_sha256 text PRIMARY KEY CHECK (letter_sha256 ~ '^[0-9a-f]{64}$'),
    letter_id     text NOT NULL,
    topic         text NOT NULL,
    replayed_at   timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON dead_letter_replays TO autonama_reader;
