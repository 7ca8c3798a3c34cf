-- Delegation of an approver's stage authority, and the audit trail naming whose authority a
-- delegate acted with.
ALTER TABLE audit_log ADD COLUMN on_behalf_of TEXT;

CREATE TABLE delegations (
    id UUID PRIMARY KEY,
    stage TEXT NOT NULL,
    delegator TEXT NOT NULL,
    delegate TEXT NOT NULL,
    starts_on DATE NOT NULL,
    ends_on DATE NOT NULL CHECK (ends_on >= starts_on),
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    CHECK (delegate <> delegator)
);
CREATE INDEX delegations_by_delegate ON delegations (delegate, stage);
