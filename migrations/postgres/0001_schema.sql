-- The PostgreSQL schema: the same tables as the SQLite migrations reach, in native types.
-- Codes, organisations and traveller ids compare byte by byte (COLLATE "C"), as in SQLite,
-- so lists sort the same on both backends whatever the server's locale.

CREATE TABLE areas (
    code              TEXT COLLATE "C" PRIMARY KEY,
    name              TEXT NOT NULL,
    country           TEXT NOT NULL,
    suspension_reason TEXT,
    suspended_since   DATE,
    created_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE sras (
    id                          UUID PRIMARY KEY,
    area_code                   TEXT COLLATE "C" NOT NULL REFERENCES areas(code),
    version                     BIGINT NOT NULL,
    status                      TEXT NOT NULL,
    effective_from              DATE NOT NULL,
    review_due                  DATE NOT NULL,
    security_level              BIGINT NOT NULL CHECK (security_level BETWEEN 1 AND 6),
    residual_risk               TEXT NOT NULL,
    threats                     JSONB NOT NULL,
    mandatory_measures          JSONB NOT NULL,
    requires_ssafe              BOOLEAN NOT NULL,
    published_at                TIMESTAMPTZ,
    residual_risk_justification TEXT,
    endorsed_by                 TEXT,
    endorsed_on                 DATE,
    approved_by                 TEXT,
    approved_on                 DATE,
    withdrawn_at                TIMESTAMPTZ,
    UNIQUE (area_code, version)
);

CREATE TABLE clearance_requests (
    id                    UUID PRIMARY KEY,
    traveller_id          TEXT COLLATE "C" NOT NULL,
    org                   TEXT COLLATE "C" NOT NULL,
    submitted_by          TEXT NOT NULL,
    status                TEXT NOT NULL,
    programme_criticality TEXT NOT NULL,
    first_arrival         DATE NOT NULL,
    last_departure        DATE NOT NULL,
    submitted_at          TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    request               JSONB NOT NULL,
    decision              JSONB NOT NULL,
    -- Every change bumps the version; writers update only the version they read.
    version               BIGINT NOT NULL,
    -- The approval chain; NULL unless ever escalated.
    escalation            JSONB,
    -- The stage awaiting a decision while status = 'escalated': what the queue is read by.
    stage                 TEXT
);

-- Lists are newest first (ids are UUIDv7, so they sort by time) within a scope.
CREATE INDEX clearance_requests_by_traveller ON clearance_requests (traveller_id, id);
CREATE INDEX clearance_requests_by_org ON clearance_requests (org, id);
CREATE INDEX clearance_requests_by_status ON clearance_requests (status, id);
CREATE INDEX escalation_queue ON clearance_requests (stage, first_arrival, submitted_at, id)
    WHERE status = 'escalated';

CREATE TABLE request_legs (
    request_id UUID NOT NULL REFERENCES clearance_requests(id),
    seq        BIGINT NOT NULL,
    area_code  TEXT COLLATE "C" NOT NULL,
    arrival    DATE NOT NULL,
    departure  DATE NOT NULL,
    PRIMARY KEY (request_id, seq)
);

-- Who is where on a date, and which requests an SRA change touches.
CREATE INDEX request_legs_by_area_dates ON request_legs (area_code, arrival, departure);

CREATE TABLE audit_log (
    request_id  UUID NOT NULL REFERENCES clearance_requests(id),
    seq         BIGINT NOT NULL,
    -- Kept as the exact text that was hashed.
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    stage       TEXT,
    comment     TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (request_id, seq)
);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_is_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_is_not_truncated BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

CREATE TABLE webhooks (
    id         UUID PRIMARY KEY,
    org        TEXT COLLATE "C" NOT NULL,
    url        TEXT NOT NULL,
    events     JSONB NOT NULL,           -- array of event names, or ["*"]
    secret     TEXT NOT NULL,            -- HMAC key; needed in clear to sign
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhooks_by_org ON webhooks (org);

-- One row per event, written in the same transaction as the change it reports.
CREATE TABLE outbox (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id UUID NOT NULL,
    org        TEXT COLLATE "C" NOT NULL,
    event      TEXT NOT NULL,
    payload    TEXT NOT NULL,            -- the exact bytes sent and signed
    created_at TIMESTAMPTZ NOT NULL
);

-- One row per (event, subscribed webhook); retried with backoff until delivered or given up.
CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      UUID NOT NULL REFERENCES webhooks(id),
    outbox_id       BIGINT NOT NULL REFERENCES outbox(id),
    request_id      UUID NOT NULL,
    status          TEXT NOT NULL,       -- pending, delivered, failed
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ,         -- a deliverer is working on it until then
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
-- Events of one request reach one webhook in order: the oldest pending goes first.
CREATE INDEX webhook_deliveries_in_order ON webhook_deliveries (webhook_id, request_id, status, id);

CREATE TABLE webhook_attempts (
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id),
    attempt     BIGINT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    status_code BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Written in the same transaction as the change that calls for it, then worked through in
-- request-id order by whichever instance leases it; `cursor` is the last request done.
CREATE TABLE rescreen_jobs (
    id           UUID PRIMARY KEY,
    area_code    TEXT COLLATE "C" NOT NULL,
    reason       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    window_from  DATE NOT NULL,
    window_until DATE,
    status       TEXT NOT NULL,          -- pending, done
    total        BIGINT NOT NULL,
    processed    BIGINT NOT NULL DEFAULT 0,
    changed      BIGINT NOT NULL DEFAULT 0,
    cursor       UUID,
    locked_until TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX rescreen_jobs_pending ON rescreen_jobs (status, created_at);
