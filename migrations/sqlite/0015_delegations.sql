-- Delegation of an approver's stage authority, and the audit trail naming whose authority a
-- delegate acted with.
ALTER TABLE audit_log ADD COLUMN on_behalf_of TEXT;

CREATE TABLE delegations (
    id TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    delegator TEXT NOT NULL,
    delegate TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL CHECK (ends_on >= starts_on),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    CHECK (delegate <> delegator)
);
CREATE INDEX delegations_by_delegate ON delegations (delegate, stage);
