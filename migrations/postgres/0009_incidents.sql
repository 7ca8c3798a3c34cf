-- Incidents: the areas they cover, the roll-call of everyone found there, and what happened.
-- Entries and incidents are kept whole as JSON (domain::incident), with the columns lists and
-- the board select and group by beside them.

CREATE TABLE incidents (
    id       UUID PRIMARY KEY,
    status   TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    incident JSONB NOT NULL
);

-- An open incident's areas (removed when it closes): decisions hold there meanwhile.
CREATE TABLE incident_areas (
    incident_id UUID NOT NULL REFERENCES incidents(id),
    area_code   TEXT COLLATE "C" NOT NULL REFERENCES areas(code),
    started_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (area_code, incident_id)
);

CREATE TABLE incident_people (
    id           UUID PRIMARY KEY,
    incident_id  UUID NOT NULL REFERENCES incidents(id),
    org          TEXT COLLATE "C" NOT NULL,
    traveller_id TEXT COLLATE "C" NOT NULL,
    area_code    TEXT COLLATE "C" NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('no_answer', 'safe', 'needs_assistance')),
    -- When they were last asked (the first ask or a reminder): reminders go by it.
    asked_at     TIMESTAMPTZ,
    -- How many dependants travel with them (the board sums it).
    dependants   INTEGER NOT NULL DEFAULT 0,
    -- The last ask written as e-mail (the asks themselves are counted in `entry`).
    mailed_asks  INTEGER NOT NULL DEFAULT 0,
    entry        JSONB NOT NULL,
    UNIQUE (incident_id, org, traveller_id)
);
CREATE INDEX incident_people_by_traveller ON incident_people (org, traveller_id);

CREATE TABLE incident_events (
    id          BIGSERIAL PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents(id),
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    entry_id    UUID,
    detail      TEXT NOT NULL
);
CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);
