-- The SRA lifecycle's sign-offs, and durable re-screening jobs.

ALTER TABLE sras ADD COLUMN residual_risk_justification TEXT;
ALTER TABLE sras ADD COLUMN endorsed_by TEXT;
ALTER TABLE sras ADD COLUMN endorsed_on TEXT;
ALTER TABLE sras ADD COLUMN approved_by TEXT;
ALTER TABLE sras ADD COLUMN approved_on TEXT;
ALTER TABLE sras ADD COLUMN withdrawn_at TEXT;

-- Written in the same transaction as the change that calls for it (a publication, a
-- withdrawal, a suspension), then worked through in request-id order by any instance;
-- `cursor` is the last request done, so a restart resumes where it stopped.
CREATE TABLE rescreen_jobs (
    id           TEXT PRIMARY KEY NOT NULL,
    area_code    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    window_from  TEXT NOT NULL,
    window_until TEXT,
    status       TEXT NOT NULL,          -- pending, done
    total        INTEGER NOT NULL,
    processed    INTEGER NOT NULL DEFAULT 0,
    changed      INTEGER NOT NULL DEFAULT 0,
    cursor       TEXT,
    locked_until TEXT,
    created_at   TEXT NOT NULL,
    finished_at  TEXT
);
CREATE INDEX rescreen_jobs_pending ON rescreen_jobs (status, created_at);

-- The locator and re-screening look up a leg's request by status.
CREATE INDEX clearance_requests_status_id ON clearance_requests (id, status);
