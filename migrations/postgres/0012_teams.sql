-- A team request (issue 31) stores each member as a request of its own, with the team's id:
-- the team is read, decided, amended and withdrawn through it.
ALTER TABLE clearance_requests ADD COLUMN team_id uuid;
CREATE INDEX clearance_requests_by_team ON clearance_requests (team_id) WHERE team_id IS NOT NULL;
