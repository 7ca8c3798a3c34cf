-- Where each area lies, for the map: a WGS 84 point in decimal degrees, or nothing (both
-- columns or neither).
ALTER TABLE areas ADD COLUMN latitude REAL CHECK (latitude BETWEEN -90 AND 90);
ALTER TABLE areas ADD COLUMN longitude REAL
    CHECK (longitude BETWEEN -180 AND 180 AND (latitude IS NULL) = (longitude IS NULL));
