-- The air operator list (issue 31): ARMO's assessment of each operator, kept by the
-- aviation-risk role; a flight leg's operator beside its leg, so that a change of the list
-- finds the requests flying with it; and re-screening jobs scoped by an operator instead of
-- an area.
CREATE TABLE air_operators (
    code        TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    assessment  TEXT NOT NULL CHECK (assessment IN ('assessed', 'not_assessed', 'restricted')),
    valid_from  DATE NOT NULL,
    valid_until DATE,
    note        TEXT,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL
);

ALTER TABLE request_legs ADD COLUMN operator TEXT COLLATE "C";
CREATE INDEX request_legs_by_operator ON request_legs (operator, departure) WHERE operator IS NOT NULL;

ALTER TABLE rescreen_jobs ALTER COLUMN area_code DROP NOT NULL;
ALTER TABLE rescreen_jobs ADD COLUMN operator TEXT COLLATE "C";
ALTER TABLE rescreen_jobs ADD CONSTRAINT rescreen_jobs_one_scope
    CHECK ((area_code IS NULL) <> (operator IS NULL));
