-- An SRA version may carry a briefing travellers must acknowledge (issue 31): its text and
-- link as JSON, absent for versions without one.
ALTER TABLE sras ADD COLUMN briefing TEXT;
