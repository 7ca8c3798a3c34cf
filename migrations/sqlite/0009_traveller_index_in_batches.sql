-- Travellers submit in no particular order, so an index on (traveller, id) cost every new
-- request a write to a page of its own in that index. The entries now live in a table the
-- group writer fills in key order, in batches (src/store/sqlite/traveller_index.rs).
CREATE TABLE requests_by_traveller (
    traveller_id TEXT NOT NULL,
    id           TEXT NOT NULL REFERENCES clearance_requests(id),
    PRIMARY KEY (traveller_id, id)
) WITHOUT ROWID;

INSERT INTO requests_by_traveller (traveller_id, id)
    SELECT traveller_id, id FROM clearance_requests;

-- Every request up to this rowid of clearance_requests has its entry in the table; those
-- after it may have theirs only in the writer's memory, and are indexed again at start.
CREATE TABLE traveller_index (
    only_row       INTEGER PRIMARY KEY CHECK (only_row = 1),
    merged_through INTEGER NOT NULL
);
INSERT INTO traveller_index (only_row, merged_through)
    SELECT 1, coalesce(max(rowid), 0) FROM clearance_requests;

DROP INDEX IF EXISTS clearance_requests_by_traveller;
