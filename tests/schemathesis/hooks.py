"""A Schemathesis check of our own: no request the document calls valid is refused as
malformed. Loaded by run.sh (SCHEMATHESIS_HOOKS) and named in its --checks.

Schemathesis' own `positive_data_acceptance` wants a 2xx for every schema-valid request. A
clearance service refuses many well-formed requests for reasons of state or of relations
between fields (an area nobody created, a leg in the past, a request already decided): those
refusals carry their own codes, listed below with why the document cannot express them. What
must never happen is a schema-valid request refused as *malformed* (`invalid_field`,
`invalid_query`, ...): that is a limit enforced and not declared, or declared wrongly.
"""

import json
import os
import re

import jsonschema_rs
import schemathesis

# The codes that say "this input is malformed".
MALFORMED = {
    "malformed_json",
    "invalid_query",
    "invalid_field",
    "invalid_if_match",
    "invalid_idempotency_key",
    "unsupported_media_type",
}

# `invalid_field` refusals of well-formed values, by the field's JSON pointer, each with the
# rule the document cannot state.
RULES_BEYOND_THE_SCHEMA = {
    r"^/on$|^/(endorsement|approval)/on$": "a sign-off cannot be dated in the future",
    r"^/review_due$": "an SRA's review date comes after the date it takes effect",
    r"^/residual_risk$": "without threats to compute it from, the residual risk must be given",
    r"^/(traveller/(id|org))$": "an amendment cannot change the traveller or the organisation",
    r"^/url$": "a webhook URL must parse as an absolute http(s) URL without credentials",
    r"^/briefing/url$": "a briefing's link must parse as an absolute http(s) URL",
    r"^/secret$": "a whsec_ secret must be valid base64 of 24 to 64 bytes",
    r"^/stage$|^/stages/\d+$": "the stages are the configured approval chains' (`approval` settings), which the document, built from code, does not know",
    r"^/started_at$": "an incident began at most a year ago and starts at most `incidents.max_ahead_hours` ahead: the document cannot say when now is",
    r"^/legs/\d+/travel/(operator|flight_number)$": "a flight names its operator and flight number, UNHAS no operator, a road leg neither: one object carries the three modes and the document does not tie its fields to `mode`",
    r"^/exceptions/\d+/request_id$": "a team decision's exception names a member of that team waiting at the stage, which a generated id is not",
    r"^/(endorsement|approval)$": "a draft takes no sign-offs in its body (POST /v1/sras/drafts shares SraBody with one-step publication): they come through its endorsement and approval steps",
}


# `invalid_query` refusals of well-formed parameters, by name, with why.
QUERY_RULES_BEYOND_THE_SCHEMA = {
    "cursor": "a cursor is opaque: only one this service issued is accepted",
    "stage": "the stages are the configured approval chain's (`approvals` settings), which the document, built from code, does not know",
}


@schemathesis.check
def schema_valid_input_accepted(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 415, 422):
        return None
    try:
        problem = json.loads(response.content)
    except ValueError:
        return None
    code, field = problem.get("code"), problem.get("field") or ""
    if code not in MALFORMED:
        return None
    if not really_valid(case, field):
        # Schemathesis 4.32.5's coverage phase marks some header values positive that break
        # the declared pattern (a run of "0" for If-Match, whose pattern needs `"` or `*`).
        return None
    if code == "invalid_field" and any(re.search(p, field) for p in RULES_BEYOND_THE_SCHEMA):
        return excepted(field)
    if code == "invalid_query" and field in QUERY_RULES_BEYOND_THE_SCHEMA:
        return excepted(field)
    raise AssertionError(
        f"a request the document calls valid was refused as malformed: {code} at "
        f"`{field}`: {problem.get('detail')}"
    )


def really_valid(case, field):
    """Whether the header or query parameter `field` names holds a value its declared
    schema accepts (a body field is taken as Schemathesis generated it)."""
    if field.startswith("/") or not field:
        return True
    for param in case.operation.definition.raw.get("parameters", []):
        if param.get("name", "").lower() != field.lower():
            continue
        values = {"header": case.headers, "query": case.query}.get(param.get("in")) or {}
        value = next((v for k, v in values.items() if k.lower() == field.lower()), None)
        if value is None:
            return True
        return jsonschema_rs.Draft202012Validator(param.get("schema", {})).is_valid(value)
    return True


def excepted(field):
    """Counts a listed exception (run.sh prints how often each one was met)."""
    log = os.environ.get("EXCEPTIONS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(field + "\n")
    return None
