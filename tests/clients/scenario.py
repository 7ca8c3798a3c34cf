"""A travel unit's integration, through the Python client openapi-python-client generated
from /openapi.json and nothing else: register a webhook, submit with an Idempotency-Key and
retry, poll, page through every request, parse each problem into its generated type,
withdraw with and without a comment, and verify every delivery with the `standardwebhooks`
package from PyPI. Run by tests/clients/run.sh against a service it started.

Environment: CLEARWAY_URL, CLEARWAY_TOKEN (a travel unit of UNICEF), CLEARWAY_OTHER_TOKEN
(a travel unit of another organisation).
"""

import datetime
import http.server
import json
import os
import queue
import threading
import time
import uuid

from clearway_client import AuthenticatedClient
from clearway_client.api.clearance_requests import (
    clearance_requests_get,
    clearance_requests_list,
    clearance_requests_submit,
    clearance_requests_withdraw,
)
from clearway_client.api.teams import teams_get, teams_submit, teams_withdraw
from clearway_client.api.webhooks import webhooks_register
from clearway_client.models import (
    ErrorCode,
    LegBody,
    Page,
    Problem,
    ProgrammeCriticality,
    Registered,
    RequestStatus,
    RequestView,
    SubmitBody,
    TeamBody,
    TeamView,
    TravellerBody,
    WebhookBody,
    WebhookBodyEventsItem,
    WebhookEvent,
    WithdrawBody,
)
from clearway_client.types import UNSET
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

URL = os.environ["CLEARWAY_URL"]
client = AuthenticatedClient(base_url=URL, token=os.environ["CLEARWAY_TOKEN"], timeout=10)
outsider = AuthenticatedClient(
    base_url=URL, token=os.environ["CLEARWAY_OTHER_TOKEN"], timeout=10
)
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise AssertionError(what)
    checks += 1


def problem(response, status, code):
    """The answer parsed into the generated Problem, with the code as the generated enum."""
    check(response.status_code == status, f"{status} expected, got {response.status_code}: {response.content!r}")
    parsed = response.parsed
    check(isinstance(parsed, Problem), f"a Problem, got {type(parsed).__name__}")
    check(parsed.code == ErrorCode(code), f"{code} expected, got {parsed.code}")
    check(response.headers["content-type"] == "application/problem+json", "problem+json")
    return parsed


# A receiver, as a travel unit runs one: it records each delivery and answers 204.
deliveries = queue.Queue()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        deliveries.put(({k.lower(): v for k, v in self.headers.items()}, body.decode()))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()

# 1. A webhook for every event; the service makes the secret and shows it once.
registered = webhooks_register.sync_detailed(
    client=client,
    body=WebhookBody(
        url=f"http://127.0.0.1:{receiver.server_port}/hooks",
        events=[WebhookBodyEventsItem.VALUE_0],
    ),
)
check(registered.status_code == 201, f"webhook registered: {registered.content!r}")
check(isinstance(registered.parsed, Registered), "Registered parsed")
secret = registered.parsed.secret
check(isinstance(secret, str) and secret.startswith("whsec_"), "a Standard Webhooks secret")

today = datetime.date.today()


def trip(traveller, area, start):
    return SubmitBody(
        traveller=TravellerBody(
            id=traveller,
            name=f"Traveller {traveller}",
            org="UNICEF",
            bsafe_valid_until=today + datetime.timedelta(days=365),
        ),
        purpose="Programme monitoring visit",
        programme_criticality=ProgrammeCriticality.PC3,
        legs=[
            LegBody(
                area=area,
                arrival=today + datetime.timedelta(days=start),
                departure=today + datetime.timedelta(days=start + 2),
            )
        ],
    )


# 2. Submit with an Idempotency-Key, then retry as after a lost answer.
key = str(uuid.uuid4())
first = clearance_requests_submit.sync_detailed(
    client=client, body=trip("amina.k", "CHE-GVA", 3), idempotency_key=key
)
check(first.status_code == 201, f"submitted: {first.content!r}")
check(isinstance(first.parsed, RequestView), "RequestView parsed")
check(first.parsed.status == RequestStatus.CLEARED, f"Geneva (Low) clears at once: {first.parsed.status}")
check(first.headers["etag"] == f'"v{first.parsed.version}"', "ETag of the new request")
retry = clearance_requests_submit.sync_detailed(
    client=client, body=trip("amina.k", "CHE-GVA", 3), idempotency_key=key
)
check(retry.status_code == 201 and retry.parsed.id == first.parsed.id, "the retry is the same request")
check(retry.headers.get("idempotent-replayed") == "true", "the retry says it is a replay")
problem(
    clearance_requests_submit.sync_detailed(
        client=client, body=trip("amina.k", "CHE-GVA", 9), idempotency_key=key
    ),
    422,
    "idempotency_key_reused",
)

# 3. Poll a held request (no SRA for Niamey) as a travel unit would.
held = clearance_requests_submit.sync_detailed(client=client, body=trip("omar.d", "NER-NIA", 5))
check(held.parsed.status == RequestStatus.HELD, f"Niamey has no SRA: held, got {held.parsed.status}")
polled = clearance_requests_get.sync_detailed(held.parsed.id, client=client)
check(polled.status_code == 200 and polled.parsed.status == RequestStatus.HELD, "polled")
check(polled.headers["etag"] == f'"v{polled.parsed.version}"', "ETag on a read")

# 4. More requests, then page through all of them, two at a time.
submitted = {first.parsed.id, held.parsed.id}
for i in range(5):
    more = clearance_requests_submit.sync_detailed(
        client=client, body=trip(f"staff.{i}", "CHE-GVA", 10 + i)
    )
    check(more.status_code == 201, "submitted")
    submitted.add(more.parsed.id)
seen, cursor, pages = [], UNSET, 0
while True:
    page = clearance_requests_list.sync_detailed(client=client, limit=2, cursor=cursor)
    check(page.status_code == 200 and isinstance(page.parsed, Page), "a page")
    pages += 1
    seen.extend(item.id for item in page.parsed.items)
    if not page.parsed.next_cursor:
        check("link" not in page.headers, "no Link on the last page")
        break
    check('rel="next"' in page.headers["link"], "Link: rel=next beside next_cursor")
    cursor = page.parsed.next_cursor
check(len(seen) == len(set(seen)) == len(submitted) and set(seen) == submitted, f"every request once over {pages} pages")
check(pages == 4, f"7 requests in pages of 2: 4 pages, got {pages}")

# 5. Problems, each parsed into the generated Problem with its generated ErrorCode.
problem(
    clearance_requests_submit.sync_detailed(client=client, body=trip("amina.k", "ATL-XXX", 3)),
    422,
    "unknown_area",
)
past = trip("amina.k", "CHE-GVA", -5)
problem(clearance_requests_submit.sync_detailed(client=client, body=past), 422, "leg_in_past")
problem(clearance_requests_get.sync_detailed(uuid.uuid4(), client=client), 404, "not_found")
# Another organisation's request is not disclosed.
problem(clearance_requests_get.sync_detailed(held.parsed.id, client=outsider), 404, "not_found")
problem(
    clearance_requests_list.sync_detailed(client=client, cursor="not-a-cursor"),
    400,
    "invalid_query",
)
anonymous = AuthenticatedClient(base_url=URL, token="not-a-token")
problem(clearance_requests_list.sync_detailed(client=anonymous), 401, "invalid_token")
problem(
    clearance_requests_withdraw.sync_detailed(first.parsed.id, client=client, body=None),
    409,
    "not_pending",
)
stale = problem(
    clearance_requests_withdraw.sync_detailed(
        held.parsed.id, client=client, body=None, if_match='"v0"'
    ),
    412,
    "precondition_failed",
)
check(stale.field == "If-Match", "the field at fault")

# 6. Withdraw with a comment, then without one: an empty body, and `null` (what `body=None`
# sends). Leaving `body` unset is not an option this generator offers: its code passes the
# UNSET marker to httpx as JSON, which raises before anything is sent.
withdrawn = clearance_requests_withdraw.sync_detailed(
    held.parsed.id,
    client=client,
    body=WithdrawBody(comment="Mission postponed"),
    if_match=polled.headers["etag"],
)
check(withdrawn.status_code == 200 and withdrawn.parsed.status == RequestStatus.WITHDRAWN, f"withdrawn: {withdrawn.content!r}")
for body in (WithdrawBody(), None):
    again = clearance_requests_submit.sync_detailed(client=client, body=trip("omar.d", "NER-NIA", 20))
    gone = clearance_requests_withdraw.sync_detailed(again.parsed.id, client=client, body=body)
    check(gone.status_code == 200 and gone.parsed.status == RequestStatus.WITHDRAWN, f"withdrawn with body={body!r}: {gone.content!r}")
    submitted.add(again.parsed.id)

# 6b. A team: two travellers on one mission, stored as one (held: Niamey has no SRA), read,
# refused when too small, and withdrawn as one.
mission = trip("team.a", "NER-NIA", 30)
team_body = TeamBody(
    travellers=[mission.traveller, trip("team.b", "NER-NIA", 30).traveller],
    purpose="Joint assessment mission",
    programme_criticality=ProgrammeCriticality.PC2,
    legs=mission.legs,
)
team = teams_submit.sync_detailed(client=client, body=team_body, idempotency_key=str(uuid.uuid4()))
check(team.status_code == 201 and isinstance(team.parsed, TeamView), f"team: {team.content!r}")
check(team.headers["location"] == f"/v1/teams/{team.parsed.id}", "Location names the team")
check([m.status for m in team.parsed.members] == [RequestStatus.HELD] * 2, "each member held")
check(all(m.team_id == team.parsed.id for m in team.parsed.members), "each member names its team")
read = teams_get.sync_detailed(team.parsed.id, client=client)
check(read.status_code == 200 and [m.id for m in read.parsed.members] == [m.id for m in team.parsed.members], "read back")
problem(teams_get.sync_detailed(team.parsed.id, client=outsider), 404, "not_found")
alone = TeamBody(travellers=[mission.traveller], purpose="Alone", programme_criticality=ProgrammeCriticality.PC3, legs=mission.legs)
problem(teams_submit.sync_detailed(client=client, body=alone), 422, "team_size")
gone = teams_withdraw.sync_detailed(team.parsed.id, client=client, body=WithdrawBody(comment="Mission cancelled"))
check(gone.status_code == 200 and [m.status for m in gone.parsed.members] == [RequestStatus.WITHDRAWN] * 2, f"team withdrawn: {gone.content!r}")
submitted.update(m.id for m in team.parsed.members)

# 7. Every delivery verifies with the Standard Webhooks library and parses as WebhookEvent.
verifier = Webhook(secret)
events, delivery_ids, deadline = [], set(), time.monotonic() + 30
expected = len(submitted) + 5  # one `request.submitted` each, five `request.withdrawn`
while len(events) < expected and time.monotonic() < deadline:
    try:
        headers, body = deliveries.get(timeout=1)
    except queue.Empty:
        continue
    verifier.verify(body, headers)
    try:
        verifier.verify(body.replace("UNICEF", "UNICEG"), headers)
        check(False, "a tampered body verifies")
    except WebhookVerificationError:
        pass
    event = WebhookEvent.from_dict(json.loads(body))
    delivery_ids.add(headers["webhook-id"])
    events.append(event)
names = sorted(e.event for e in events)
check(len(events) == expected, f"{expected} deliveries expected, got {len(events)}: {names}")
check(len(delivery_ids) == len(events), "each delivery has its own webhook-id")
check(len({e.event_id for e in events}) == len(events), "each event its own event_id")
check(names.count("request.withdrawn") == 5, "five withdrawals (three requests, a team of two)")
check(any(e.comment == "Mission postponed" for e in events), "the comment travels with the event")

receiver.shutdown()
print(f"python client scenario: {checks} checks passed; {len(events)} deliveries verified with standardwebhooks")
