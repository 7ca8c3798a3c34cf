-- Travel units' webhooks and the durable outbox that feeds them.

CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY NOT NULL,
    org        TEXT NOT NULL,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,            -- JSON array of event names, or ["*"]
    secret     TEXT NOT NULL,            -- HMAC key; needed in clear to sign
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX webhooks_by_org ON webhooks (org);

-- One row per event, written in the same transaction as the change it reports.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    org        TEXT NOT NULL,
    event      TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- One row per (event, subscribed webhook); retried with backoff until delivered or given up.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id),
    outbox_id       INTEGER NOT NULL REFERENCES outbox(id),
    request_id      TEXT NOT NULL,
    status          TEXT NOT NULL,       -- pending, delivered, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,                -- a deliverer is working on it until then
    delivered_at    TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
-- Events of one request reach one webhook in order: the oldest pending goes first.
CREATE INDEX webhook_deliveries_in_order ON webhook_deliveries (webhook_id, request_id, status, id);

CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id),
    attempt     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
