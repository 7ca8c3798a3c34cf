-- The roles the first request under a key was made with: a retry is replayed only to a caller
-- who still holds all of them (the first request was authorized with those roles, and no
-- role takes a permission away), so a replay never outlives a withdrawn role.
ALTER TABLE idempotency_keys ADD COLUMN roles TEXT;
