-- Where each area lies, for the map: a WGS 84 point in decimal degrees, or nothing.
ALTER TABLE areas
    ADD COLUMN latitude DOUBLE PRECISION CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude DOUBLE PRECISION CHECK (longitude BETWEEN -180 AND 180),
    ADD CONSTRAINT areas_location_whole CHECK ((latitude IS NULL) = (longitude IS NULL));
