-- The approval chain's state on each request, and the append-only audit trail.

-- Every change bumps the version; writers update only the version they read (optimistic
-- concurrency), so two approvers acting at once cannot both succeed.
ALTER TABLE clearance_requests ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
-- JSON of the chain (stages, current stage, claim, decisions); NULL unless ever escalated.
ALTER TABLE clearance_requests ADD COLUMN escalation TEXT;
-- The stage awaiting a decision, while status = 'escalated': what the queue is read by.
ALTER TABLE clearance_requests ADD COLUMN stage TEXT;

CREATE INDEX escalation_queue ON clearance_requests (stage, first_arrival, submitted_at, id)
    WHERE status = 'escalated';

CREATE TABLE audit_log (
    request_id  TEXT NOT NULL REFERENCES clearance_requests(id),
    seq         INTEGER NOT NULL,
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

CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
