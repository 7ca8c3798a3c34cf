-- Incidents: the areas they cover, the roll-call of everyone found there, and what happened.
-- Entries and incidents are kept whole as JSON (domain::incident), with the columns lists and
-- the board select and group by beside them.

CREATE TABLE incidents (
    id         TEXT PRIMARY KEY NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    incident   TEXT NOT NULL
);

-- An open incident's areas (removed when it closes): decisions hold there meanwhile.
CREATE TABLE incident_areas (
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    area_code   TEXT NOT NULL REFERENCES areas(code),
    started_at  TEXT NOT NULL,
    PRIMARY KEY (area_code, incident_id)
);

CREATE TABLE incident_people (
    id           TEXT PRIMARY KEY NOT NULL,
    incident_id  TEXT NOT NULL REFERENCES incidents(id),
    org          TEXT NOT NULL,
    traveller_id TEXT NOT NULL,
    area_code    TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('no_answer', 'safe', 'needs_assistance')),
    -- When they were last asked (the first ask or a reminder): reminders go by it.
    asked_at     TEXT,
    -- How many dependants travel with them (the board sums it).
    dependants   INTEGER NOT NULL DEFAULT 0,
    -- The last ask written as e-mail (the asks themselves are counted in `entry`).
    mailed_asks  INTEGER NOT NULL DEFAULT 0,
    entry        TEXT NOT NULL,
    UNIQUE (incident_id, org, traveller_id)
);
-- A traveller's own asks, across incidents.
CREATE INDEX incident_people_by_traveller ON incident_people (org, traveller_id);

CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    entry_id    TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);
