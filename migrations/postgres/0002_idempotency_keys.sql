-- Idempotency-Key: the first response to each (caller, key), replayed to retries. Shared by
-- every instance, so a retry that lands on another instance is recognised too.
CREATE TABLE idempotency_keys (
    subject      TEXT NOT NULL,            -- the caller (token subject) the key belongs to
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,            -- SHA-256 of method, path and body
    created_at   TIMESTAMPTZ NOT NULL,
    status       BIGINT,                   -- NULL while the first request is in progress
    content_type TEXT,
    location     TEXT,
    body         TEXT,
    PRIMARY KEY (subject, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
