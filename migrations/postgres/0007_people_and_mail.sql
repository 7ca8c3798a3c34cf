-- The people directory, and e-mail: each change's notice (written in the change's own
-- transaction), the messages planned from it, and their delivery.
CREATE TABLE people (
    subject TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    language TEXT NOT NULL,
    stages JSONB NOT NULL,
    org TEXT,
    notifications TEXT NOT NULL CHECK (notifications IN ('immediate', 'daily_digest', 'off')),
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE mail_notices (
    id BIGSERIAL PRIMARY KEY,
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);

CREATE TABLE mail_messages (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    request_id UUID,
    recipient TEXT NOT NULL,
    person TEXT,
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'held', 'digested', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ
);
CREATE INDEX mail_messages_due ON mail_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_messages_held ON mail_messages (person, id) WHERE status = 'held';
CREATE INDEX mail_messages_by_request ON mail_messages (request_id, id);
CREATE INDEX mail_messages_failed ON mail_messages (id) WHERE status = 'failed';
-- Sent and digested messages are forgotten after mail.keep_days.
CREATE INDEX mail_messages_done ON mail_messages (created_at) WHERE status IN ('sent', 'digested');
