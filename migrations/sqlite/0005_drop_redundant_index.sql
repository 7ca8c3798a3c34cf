-- (id, status) duplicated the primary key for the locator's join and cost every insert.
DROP INDEX IF EXISTS clearance_requests_status_id;
