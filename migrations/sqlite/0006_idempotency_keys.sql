-- Idempotency-Key: the first response to each (caller, key), replayed to retries.
CREATE TABLE idempotency_keys (
    subject      TEXT NOT NULL,            -- the caller (token subject) the key belongs to
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,            -- SHA-256 of method, path and body
    created_at   TEXT NOT NULL,
    status       INTEGER,                  -- NULL while the first request is in progress
    content_type TEXT,
    location     TEXT,
    body         TEXT,
    PRIMARY KEY (subject, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
