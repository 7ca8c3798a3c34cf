-- Legs keyed by area first, then request: request ids are UUIDv7 and grow with time, so a
-- new leg lands at the end of its area's run instead of at a random place among the
-- (area, arrival, departure) keys. A group of new requests then rewrites a dozen tail pages,
-- not one page per leg, which halves what each request costs the write-ahead log once the
-- store is large. The crisis locator and re-screening read one area's run either way; and
-- re-screening walks it in request order, which is the order its cursor needs.
CREATE TABLE request_legs_by_area (
    request_id TEXT NOT NULL REFERENCES clearance_requests(id),
    seq        INTEGER NOT NULL,
    area_code  TEXT NOT NULL,
    arrival    TEXT NOT NULL,
    departure  TEXT NOT NULL,
    PRIMARY KEY (area_code, request_id, seq)
) WITHOUT ROWID;
INSERT INTO request_legs_by_area (request_id, seq, area_code, arrival, departure)
    SELECT request_id, seq, area_code, arrival, departure FROM request_legs;
DROP TABLE request_legs;
ALTER TABLE request_legs_by_area RENAME TO request_legs;
CREATE UNIQUE INDEX request_legs_of_request ON request_legs (request_id, seq);

-- The audit trail keyed by its primary key alone: one tree per insert instead of a rowid
-- table plus an index on the same key. The append-only triggers go with the old table and
-- are created again.
CREATE TABLE audit_log_keyed (
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
) WITHOUT ROWID;
INSERT INTO audit_log_keyed SELECT request_id, seq, at, actor, action, from_status, to_status,
    stage, comment, prev_hash, hash FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_keyed RENAME TO audit_log;

CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
