-- The id a new request made under an Idempotency-Key gets, chosen when the key is claimed:
-- a retry after an unknown outcome (a commit whose flush failed) submits with the same id,
-- and so finds the request if the first attempt stored it instead of storing a second one.
ALTER TABLE idempotency_keys ADD COLUMN request_id TEXT;
