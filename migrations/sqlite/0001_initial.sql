-- Areas, their published SRAs, and clearance requests with their legs.

CREATE TABLE areas (
    code              TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL,
    country           TEXT NOT NULL,
    suspension_reason TEXT,
    suspended_since   TEXT,
    created_at        TEXT NOT NULL
);

CREATE TABLE sras (
    id                 TEXT PRIMARY KEY NOT NULL,
    area_code          TEXT NOT NULL REFERENCES areas(code),
    version            INTEGER NOT NULL,
    status             TEXT NOT NULL,
    effective_from     TEXT NOT NULL,
    review_due         TEXT NOT NULL,
    security_level     INTEGER NOT NULL CHECK (security_level BETWEEN 1 AND 6),
    residual_risk      TEXT NOT NULL,
    threats            TEXT NOT NULL,
    mandatory_measures TEXT NOT NULL,
    requires_ssafe     INTEGER NOT NULL,
    published_at       TEXT,
    UNIQUE (area_code, version)
);

CREATE TABLE clearance_requests (
    id                    TEXT PRIMARY KEY NOT NULL,
    traveller_id          TEXT NOT NULL,
    org                   TEXT NOT NULL,
    submitted_by          TEXT NOT NULL,
    status                TEXT NOT NULL,
    programme_criticality TEXT NOT NULL,
    first_arrival         TEXT NOT NULL,
    last_departure        TEXT NOT NULL,
    submitted_at          TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    request               TEXT NOT NULL,
    decision              TEXT NOT NULL
);

-- Lists are newest first (ids are UUIDv7, so they sort by time) within a scope.
CREATE INDEX clearance_requests_by_traveller ON clearance_requests (traveller_id, id);
CREATE INDEX clearance_requests_by_org ON clearance_requests (org, id);
CREATE INDEX clearance_requests_by_status ON clearance_requests (status, id);

CREATE TABLE request_legs (
    request_id TEXT NOT NULL REFERENCES clearance_requests(id),
    seq        INTEGER NOT NULL,
    area_code  TEXT NOT NULL,
    arrival    TEXT NOT NULL,
    departure  TEXT NOT NULL,
    PRIMARY KEY (request_id, seq)
);

-- Who is where on a date, and which requests an SRA change touches.
CREATE INDEX request_legs_by_area_dates ON request_legs (area_code, arrival, departure);
