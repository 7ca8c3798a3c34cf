-- The air operator list (issue 31): ARMO's assessment of each operator, kept by the
-- aviation-risk role; a flight leg's operator beside its leg, so that a change of the list
-- finds the requests flying with it; and re-screening jobs scoped by an operator instead of
-- an area.
CREATE TABLE air_operators (
    code        TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    assessment  TEXT NOT NULL CHECK (assessment IN ('assessed', 'not_assessed', 'restricted')),
    valid_from  TEXT NOT NULL,
    valid_until TEXT,
    note        TEXT,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);

ALTER TABLE request_legs ADD COLUMN operator TEXT;
CREATE INDEX request_legs_by_operator ON request_legs (operator, departure) WHERE operator IS NOT NULL;

-- SQLite cannot drop a NOT NULL: the small jobs table is rebuilt, as SQLite's documentation
-- describes (create, copy, drop, rename).
CREATE TABLE rescreen_jobs_scoped (
    id           TEXT PRIMARY KEY NOT NULL,
    area_code    TEXT,
    operator     TEXT,
    reason       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    window_from  TEXT NOT NULL,
    window_until TEXT,
    status       TEXT NOT NULL,
    total        INTEGER NOT NULL,
    processed    INTEGER NOT NULL DEFAULT 0,
    changed      INTEGER NOT NULL DEFAULT 0,
    cursor       TEXT,
    locked_until TEXT,
    created_at   TEXT NOT NULL,
    finished_at  TEXT,
    CHECK ((area_code IS NULL) <> (operator IS NULL))
);
INSERT INTO rescreen_jobs_scoped (id, area_code, reason, actor, window_from, window_until, status,
                                  total, processed, changed, cursor, locked_until, created_at, finished_at)
    SELECT id, area_code, reason, actor, window_from, window_until, status,
           total, processed, changed, cursor, locked_until, created_at, finished_at
    FROM rescreen_jobs;
DROP TABLE rescreen_jobs;
ALTER TABLE rescreen_jobs_scoped RENAME TO rescreen_jobs;
CREATE INDEX rescreen_jobs_pending ON rescreen_jobs (status, created_at);
