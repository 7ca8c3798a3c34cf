// A travel unit's integration, written against the types openapi-typescript generated from
// /openapi.json. It is only compiled (tsc --strict): each line states what an integrator
// relies on, and a wrong type in the document fails the build.
import type { components, operations } from "./generated/schema";

type Json<Response> = Response extends { content: { "application/json": infer Body } } ? Body : never;
type Schemas = components["schemas"];

// One request by id: its path parameter is `id`, its answer a request with legs.
type GetRequest = operations["clearance_requests_get"];
const byId: GetRequest["parameters"]["path"] = { id: "0190e0a4-0000-7000-8000-000000000000" };
declare const request: Json<GetRequest["responses"][200]>;
const status: Schemas["RequestStatus"] = request.status;
const firstArea: string = request.legs[0].area;

// The list pages with a cursor that is absent on the last page.
type ListRequests = operations["clearance_requests_list"];
const query: ListRequests["parameters"]["query"] = { limit: 200, status: "cleared" };
declare const page: Json<ListRequests["responses"][200]>;
const ids: string[] = page.items.map((item) => item.id);
const next: string | null | undefined = page.next_cursor;

// Areas are another resource with their own list and get.
declare const areas: Json<operations["areas_list"]["responses"][200]>;
const codes: string[] = areas.items.map((area) => area.code);
declare const sra: Json<operations["sras_get"]["responses"][200]>;
const version: number = sra.version;

// Every problem carries a code from one closed list, and a client can branch on it.
declare const problem: Schemas["Problem"];
function retryable(code: Schemas["ErrorCode"]): boolean {
  switch (code) {
    case "store_unavailable":
    case "rate_limited":
    case "idempotency_key_in_progress":
      return true;
    default:
      return false;
  }
}
const again: boolean = retryable(problem.code);

// Withdrawing names its resource and its body.
type Withdraw = operations["clearance_requests_withdraw"];
const reason: Withdraw["requestBody"] = undefined;

// What a webhook delivers, typed from the document's `webhooks` section.
declare const delivered: Schemas["WebhookEvent"];
const changed: string = delivered.request.id;
const dedupe: string = delivered.event_id;

export { changed, dedupe, byId, status, firstArea, query, ids, next, codes, version, again, reason };

// Conditional changes: the ETag a read answered goes back as If-Match; limits are headers.
type Amend = operations["clearance_requests_amend"];
const conditional: NonNullable<Amend["parameters"]["header"]> = { "If-Match": "\"v3\"" };
declare const amended: Amend["responses"][200]["headers"];
const tag: string | undefined = amended["ETag"];
const limits: string | undefined = amended["RateLimit"];

// A team: several travellers in one body, answered with each member as a request that names
// its team; the decision takes exceptions by request id.
type SubmitTeam = operations["teams_submit"];
declare const teamBody: NonNullable<SubmitTeam["requestBody"]>["content"]["application/json"];
const travellerIds: string[] = teamBody.travellers.map((t) => t.id);
declare const team: Json<SubmitTeam["responses"][201]>;
const memberTeams: (string | null | undefined)[] = team.members.map((m) => m.team_id);
declare const teamDecision: NonNullable<operations["teams_decide"]["requestBody"]>["content"]["application/json"];
const excepted: string[] = (teamDecision.exceptions ?? []).map((e) => e.request_id);
export { conditional, tag, limits, travellerIds, memberTeams, excepted };
