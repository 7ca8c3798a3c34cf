-- Legs were indexed by request as well as by area, only so that an amendment could delete a
-- request's legs. Every new leg paid for that second tree. The amendment now finds the old
-- legs through the areas its stored itinerary names, by the primary key (area, request).
DROP INDEX IF EXISTS request_legs_of_request;
