-- Re-screening walks an area's (or an air operator's) legs in request order, a page at a time
-- after its cursor (issue 32). These let each page seek to the cursor and stop after a page,
-- where the (area, arrival, departure) index made every page read and sort the whole area.
CREATE INDEX request_legs_by_area_request ON request_legs (area_code, request_id);
CREATE INDEX request_legs_by_operator_request ON request_legs (operator, request_id) WHERE operator IS NOT NULL;
