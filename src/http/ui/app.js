// clearway's web page: the same JSON API travel units use, with the caller's bearer token.
// No framework: a few views rendered from plain DOM calls, so the page works offline.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const STORAGE = "clearway.token";
const STATUS_LABEL = {
  cleared: "Cleared", held: "Held", refused: "Refused", escalated: "Escalated",
  approved: "Approved", rejected: "Rejected", returned: "Returned", withdrawn: "Withdrawn",
  revoked: "Revoked",
};
const PENDING = ["escalated", "held", "returned"];

let session = null; // { token, sub, roles, org }
let stopWatching = null;

/** Creates an element: el("p", {class: "x"}, "text", child, ...). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(text, kind = "info") {
  const box = $("#message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

/** A problem+json answer as one readable sentence. */
class ApiError extends Error {
  constructor(status, problem) {
    const detail = problem && (problem.detail || problem.title);
    super(detail ? `${problem.title || "Error"}: ${detail}` : `The service answered ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

/** `key`: the Idempotency-Key of the user's action; a form keeps one until it succeeds, so
 * sending it twice (a double click, a retry after a timeout) stores it once. */
async function api(method, path, body, accept = "application/json", key = undefined) {
  const headers = { Accept: accept };
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["Idempotency-Key"] = key || newKey();
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const text = await response.text();
  const data = text && (response.headers.get("content-type") || "").includes("json")
    ? JSON.parse(text) : text;
  if (!response.ok) {
    if (response.status === 401) signOut("Your session has ended; sign in again.");
    throw new ApiError(response.status, typeof data === "object" ? data : null);
  }
  return data;
}

/** Runs an action, showing its failure as a readable message instead of throwing. */
async function attempt(action, success) {
  try {
    const result = await action();
    if (success) say(success, "ok");
    return result;
  } catch (error) {
    // fetch rejects with a TypeError ("Failed to fetch") when nothing answered at all.
    say(error instanceof ApiError ? error.message
      : "The service could not be reached. Check the connection and try again.", "error");
    return undefined;
  }
}

/** A date and time in the reader's locale, with its time zone named. */
function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    // dateStyle and timeStyle cannot be combined with timeZoneName.
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short",
  }).format(date);
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** A request as people tell it apart: who, where, when, and the id's random tail (its
 * head is a timestamp, the same for every request of the same minute). */
function requestTitle(record) {
  const first = record.legs[0];
  return `${record.traveller.name}: ${first.area} from ${first.arrival} (ref. ${record.id.slice(-8)})`;
}

// ---- Session -------------------------------------------------------------------------

function decode(token) {
  const payload = token.split(".")[1] || "";
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(json);
}

function start(token) {
  let claims;
  try {
    claims = decode(token);
  } catch {
    say("That is not a JWT.", "error");
    return;
  }
  session = { token, sub: claims.sub, roles: claims.roles || [], org: claims.org || null };
  sessionStorage.setItem(STORAGE, token);
  $("#sign-in").hidden = true;
  $("#who").hidden = false;
  $("#who-name").textContent = `${session.sub} (${session.roles.join(", ")}${session.org ? `, ${session.org}` : ""})`;
  tabs();
}

function signOut(text = "") {
  if (stopWatching) stopWatching();
  session = null;
  sessionStorage.removeItem(STORAGE);
  $("#sign-in").hidden = false;
  $("#who").hidden = true;
  $("#tabs").hidden = true;
  $("#view").hidden = true;
  say(text, text ? "error" : "info");
}

const has = (...roles) => session && roles.some((r) => session.roles.includes(r));

function tabs() {
  const nav = $("#tabs");
  nav.replaceChildren();
  const views = [["home", "Overview", homeView]];
  if (has("traveller", "travel-unit")) views.push(["requests", "Requests", requestsView]);
  if (has("approver-hq", "approver-dg", "admin")) views.push(["queue", "Approval queue", queueView]);
  if (has("security-analyst", "admin")) views.push(["areas", "Areas and SRAs", areasView]);
  if (views.length === 1) views.push(["areas-read", "Areas", areasView]);
  for (const [id, label, render] of views) {
    nav.append(el("button", {
      type: "button", id: `tab-${id}`, "data-testid": `tab-${id}`,
      onclick: () => show(id, render),
    }, label));
  }
  nav.hidden = false;
  show(views[0][0], views[0][2]);
}

function show(id, render) {
  if (stopWatching) stopWatching();
  for (const button of $("#tabs").children) {
    button.setAttribute("aria-current", button.id === `tab-${id}` ? "page" : "false");
  }
  const view = $("#view");
  view.hidden = false;
  view.replaceChildren();
  say("");
  // Until the view's data arrived: say so, and tell assistive technology the view is busy.
  const loading = el("p", { class: "hint", "data-testid": "loading" }, "Loading…");
  view.setAttribute("aria-busy", "true");
  view.append(loading);
  Promise.resolve(render(view)).finally(() => {
    loading.remove();
    view.removeAttribute("aria-busy");
  }).then(() => {
    // Focus follows the change of view (it would otherwise fall to <body>).
    const heading = $("h2", view);
    if (heading) {
      heading.tabIndex = -1;
      heading.focus();
    }
  });
}

// ---- Shared pieces ---------------------------------------------------------------------

/** A column header; the actions column's is named for screen readers only. */
const header = (text) => el("th", { scope: "col" }, text || el("span", { class: "visually-hidden" }, "Actions"));

function statusBadge(status) {
  return el("span", { class: `badge ${status}`, "data-testid": "status" }, STATUS_LABEL[status] || status);
}

function riskBadge(risk) {
  return risk
    ? el("span", { class: `risk ${risk}` }, risk.replace("_", " "))
    : el("span", { class: "risk none" }, "no SRA");
}

const today = (days = 0) => new Date(Date.now() + days * 86400000).toISOString().slice(0, 10);

const STAGE_NAME = { hq: "HQ security", dg: "the DG's office" };
const PC_HELP = {
  PC1: "lifesaving, or directed by the Secretary-General",
  PC2: "very likely to have an immediate, significant impact",
  PC3: "likely to have a significant impact",
  PC4: "other activities",
};
const stageName = (s) => STAGE_NAME[s] || s;

/** Where the request stands now, in words: the screening's reason while nothing happened
 * since, the approvers' decisions once the chain acted. */
function headline(record) {
  const decided = (record.approval ? record.approval.decisions : [])
    .map((d) => `${d.verdict === "approve" ? "approved" : d.verdict === "reject" ? "rejected" : "returned"} by ${d.approver} (${stageName(d.stage)}) on ${when(d.decided_at)}`);
  switch (record.status) {
    case "escalated":
      return [`Waiting for ${stageName(record.approval && record.approval.stage)}.`, ...decided.map((d) => `Already ${d}.`)].join(" ");
    case "approved": case "rejected": case "returned":
      return decided.length ? `${decided.join("; ")}.`.replace(/^./, (c) => c.toUpperCase()) : record.decision.reason;
    case "withdrawn": return "Withdrawn.";
    case "revoked": return "Revoked after the security situation changed.";
    default: return record.decision.reason;
  }
}

/** What the traveller can do next, or whom to ask. */
const NEXT_STEP = {
  cleared: "Travel as planned and meet every condition listed for each leg.",
  approved: "Travel as planned and meet every condition listed for each leg.",
  held: "Nothing moves until the cause above is fixed: amend the request (dates, areas, training dates) or ask your organisation's security focal point.",
  escalated: "Nothing to do: the approvers decide, and this page updates when they do.",
  returned: "An approver returned it: read their comment in the timeline, then amend and resubmit, or withdraw it.",
  refused: "Do not travel. The risk is not acceptable for this mission; your security focal point can advise on alternatives.",
  rejected: "Do not travel. Read the approver's comment in the timeline; a new request is needed if the mission changes.",
  revoked: "Do not travel on this clearance: the security situation changed. Contact your security focal point; submit a new request if the mission must still go ahead.",
};

/** A leg's screening outcome: "escalated" there means it needs the approval chain. */
function legOutcome(outcome) {
  return outcome === "escalated"
    ? el("span", { class: "badge escalated", "data-testid": "leg-outcome" }, "Needs approval")
    : el("span", { class: `badge ${outcome}`, "data-testid": "leg-outcome" }, STATUS_LABEL[outcome] || outcome);
}

function decisionCard(record) {
  const d = record.decision;
  const next = NEXT_STEP[record.status];
  return el("div", { class: "card decision", "data-testid": "decision" },
    el("p", { "data-testid": "headline" }, statusBadge(record.status), " ", headline(record)),
    next ? el("p", { class: "next-step", "data-testid": "next-step" }, next) : null,
    el("details", { class: "hint" }, el("summary", {}, "What do risk and screening mean?"),
      el("p", {}, "Each leg is checked against the Security Risk Assessment (SRA) in force for its area on those dates. Its residual risk (likelihood times impact, after the mandatory measures) runs from Low to Unacceptable. Low and Medium clear at once, High needs programme criticality PC1 or PC2, Very High goes to HQ security and then the Director General's office, Unacceptable is refused. The strictest leg decides.")),
    el("table", { class: "stack" },
      el("caption", { class: "visually-hidden" }, "Screening of each leg against the SRA in force"),
      el("thead", {}, el("tr", {}, ["Area", "Risk", "SRA", "Screening", "Why", "Conditions"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, d.legs.map((leg) => el("tr", {},
        el("td", {}, leg.area),
        el("td", {}, riskBadge(leg.risk)),
        el("td", {}, leg.sra ? `v${leg.sra.version}` : "none"),
        el("td", {}, legOutcome(leg.outcome)),
        // The conditions have their own column.
        el("td", {}, leg.reason.replace(/;\s*conditions:.*$/s, "")),
        el("td", {}, leg.conditions.length ? el("ul", {}, leg.conditions.map((c) => el("li", {}, c))) : "none"),
      )))));
}

// ---- Overview ----------------------------------------------------------------------------

/** Every item of a paged list (following next_cursor), up to `cap` items. */
async function everything(path, cap = 2000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < cap);
  return items;
}

/** A figure with its label; `testid` names it for the tests that compare it with the API. */
const figure = (testid, value, label) =>
  el("div", { class: "figure", "data-testid": `figure-${testid}` }, el("strong", {}, String(value)), el("span", {}, label));

async function homeView(view) {
  view.append(el("h2", {}, `Overview for ${session.sub}`));
  const body = el("div", { "aria-busy": "true" }, el("p", { class: "hint" }, "Loading…"));
  view.append(body);
  const parts = [];
  if (has("traveller", "travel-unit")) parts.push(await attempt(travellerHome));
  if (has("approver-hq", "approver-dg", "admin")) parts.push(await attempt(approverHome));
  if (has("security-analyst", "admin")) parts.push(await attempt(analystHome));
  body.replaceChildren(...parts.filter(Boolean));
  body.removeAttribute("aria-busy");
}

async function travellerHome() {
  const mine = await everything("/v1/clearance-requests");
  const count = (status) => mine.filter((r) => r.status === status).length;
  const start = today();
  const upcoming = mine
    .filter((r) => ["cleared", "approved"].includes(r.status) && r.legs[0].arrival >= start)
    .sort((a, b) => a.legs[0].arrival.localeCompare(b.legs[0].arrival))[0];
  const action = mine.filter((r) => ["returned", "held", "revoked"].includes(r.status));
  return el("section", { class: "card", "aria-labelledby": "home-trips" },
    el("h3", { id: "home-trips" }, has("travel-unit") ? "Your organisation's trips" : "Your trips"),
    el("div", { class: "figures" },
      figure("cleared", count("cleared") + count("approved"), "cleared"),
      figure("waiting", count("escalated"), "waiting for approval"),
      figure("action", action.length, "need your action"),
      figure("closed", count("refused") + count("rejected") + count("withdrawn"), "refused, rejected or withdrawn")),
    el("p", { "data-testid": "next-trip" }, upcoming
      ? `Next trip: ${requestTitle(upcoming)}.` : "No cleared trip ahead."),
    action.length ? el("ul", {}, action.map((r) => el("li", {}, `${STATUS_LABEL[r.status]}: ${requestTitle(r)}`))) : null);
}

async function approverHome() {
  const sections = [];
  for (const stage of stages()) {
    const items = await everything(`/v1/escalations?stage=${stage}`);
    const oldest = Math.max(0, ...items.map((q) => q.seconds_in_queue));
    sections.push(el("section", { class: "card", "aria-labelledby": `home-${stage}` },
      el("h3", { id: `home-${stage}` }, `Waiting at ${stageName(stage)}`),
      el("div", { class: "figures" },
        figure(`${stage}-pending`, items.length, "pending"),
        figure(`${stage}-urgent`, items.filter((q) => q.urgent).length, "travel within 72 h"),
        figure(`${stage}-mine`, items.filter((q) => q.claim && q.claim.holder === session.sub).length, "claimed by you"),
        figure(`${stage}-oldest`, items.length ? plural(Math.round(oldest / 3600), "hour", "hours") : "none", "the oldest has waited"))));
  }
  return el("div", {}, sections);
}

async function analystHome() {
  const known = (await api("GET", "/v1/areas")).items;
  const levels = ["low", "medium", "high", "very_high", "unacceptable"];
  const riskOf = (a) => (a.suspension ? "suspended" : a.in_force ? a.in_force.risk : "none");
  const soon = today(30);
  const due = known.filter((a) => a.review_overdue || (a.in_force && a.in_force.review_due <= soon));
  const people = await Promise.all(known.map(async (a) =>
    [a, (await api("GET", `/v1/areas/${a.code}/personnel`).catch(() => ({ count: 0 }))).count]));
  return el("section", { class: "card", "aria-labelledby": "home-areas" },
    el("h3", { id: "home-areas" }, "Areas"),
    el("div", { class: "figures" },
      [...levels, "suspended", "none"].map((r) => figure(`risk-${r}`, known.filter((a) => riskOf(a) === r).length,
        r === "none" ? "without an SRA" : r === "suspended" ? "suspended" : `${r.replace("_", " ")} risk`))),
    el("h4", {}, "SRA reviews due within 30 days or overdue"),
    due.length ? el("ul", { "data-testid": "reviews-due" }, due.map((a) => el("li", {},
      `${a.code} ${a.name}: ${a.review_overdue ? "overdue" : `due ${a.in_force.review_due}`}`)))
      : el("p", { "data-testid": "reviews-due" }, "None."),
    el("h4", {}, "People in each area today"),
    people.some(([, n]) => n > 0)
      ? el("table", { class: "stack", "data-testid": "people-today" },
        el("thead", {}, el("tr", {}, ["Area", "People"].map(header))),
        el("tbody", {}, people.filter(([, n]) => n > 0).map(([a, n]) => el("tr", {}, el("td", {}, `${a.code} ${a.name}`), el("td", {}, String(n))))))
      : el("p", { "data-testid": "people-today" }, "Nobody holds a clearance for any area today."));
}

// ---- Travellers and travel units -----------------------------------------------------

let areasCache = null;
async function areas() {
  areasCache = areasCache || (await api("GET", "/v1/areas")).items;
  return areasCache;
}

// One request form on the page: new requests, and amendments of a returned or held one.
let requestFormEl = null;

async function requestsView(view) {
  const form = el("form", { class: "card", "data-testid": "submit-form" });
  requestFormEl = form;
  const detail = el("div", { id: "detail" });
  const list = el("div", { id: "list" });
  const search = searchForm(list, detail);
  view.append(el("h2", { id: "form-title" }, "New request"), form, detail, el("h2", {}, "Requests"), search, list);
  await requestForm(form, null, detail, list);
  await refreshList(list, detail);
  const linked = new URLSearchParams(location.hash.slice(1)).get("request");
  if (linked) {
    history.replaceState(null, "", location.pathname);
    await openRequest(linked, detail, list);
  }
  // Approvals, returns and revocations happen elsewhere: look again every few seconds.
  const timer = setInterval(async () => {
    if (document.hidden) return;
    await refreshList(list, detail, true);
    const open = detail.dataset.id;
    if (open) await openRequest(open, detail, list, { quiet: true });
  }, REFRESH_MS);
  stopWatching = () => clearInterval(timer);
}
const REFRESH_MS = 5000;

async function requestForm(form, existing, detail, list) {
  $("#form-title").textContent = existing ? `Amend: ${requestTitle(existing)}` : "New request";
  const known = await attempt(areas) || [];
  const t = existing ? existing.traveller : {};
  // A hint is tied to its field (aria-describedby), so a screen reader reads it with the field.
  const field = (id, label, attrs, hint) => [
    el("label", { for: id }, label),
    el("input", { id, name: id, "aria-describedby": hint ? `${id}-hint` : null, ...attrs }),
    hint ? el("small", { id: `${id}-hint`, class: "hint" }, hint) : null,
  ];
  form.replaceChildren(
    el("fieldset", {}, el("legend", {}, "Traveller"),
      field("f-id", "Traveller id", { required: true, value: t.id || session.sub, readonly: !has("travel-unit") }),
      field("f-name", "Name", { required: true, value: t.name || session.sub }),
      field("f-org", "Organisation", { required: true, value: t.org || session.org || "" }),
      field("f-bsafe", "BSAFE valid until", { type: "date", value: t.bsafe_valid_until || today(365) },
        "BSAFE is the UN's mandatory online security awareness course; it must be valid through the last departure."),
      field("f-ssafe", "SSAFE valid until", { type: "date", value: t.ssafe_valid_until || today(365) },
        "SSAFE is the in-person Safe and Secure Approaches in Field Environments training, required where the area's SRA says so. Leave empty if you have none.")),
    el("fieldset", {}, el("legend", {}, "Mission"),
      field("f-purpose", "Purpose", { required: true, value: existing ? existing.purpose : "" }),
      el("label", { for: "f-pc" }, "Programme criticality"),
      el("select", { id: "f-pc", "aria-describedby": "f-pc-hint" }, Object.entries(PC_HELP).map(([pc, what]) =>
        el("option", { value: pc, selected: (existing ? existing.programme_criticality : "PC3") === pc }, `${pc}: ${what}`))),
      el("small", { id: "f-pc-hint", class: "hint" },
        "How critical the activity is, as your programme's criticality assessment rated it. The higher the criticality, the higher the residual risk it may accept: PC1 up to Very High (with approval), PC2 up to High, PC3 and PC4 up to Medium."),
      field("f-msra", "Mission-specific SRA reference (Very High risk)", { value: existing && existing.mission_sra_reference || "" },
        "Where the area's risk is Very High, the mission needs its own Security Risk Assessment: give its reference.")),
    el("fieldset", { id: "legs" }, el("legend", {}, "Itinerary")),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "secondary", id: "add-leg", onclick: () => addLeg(known, undefined, true) }, "Add a leg"),
      el("button", { type: "submit", "data-testid": "submit" }, existing ? "Amend and resubmit" : "Submit")));
  const legs = existing ? existing.legs : [{ area: "", arrival: today(7), departure: today(10) }];
  for (const leg of legs) addLeg(known, leg);
  // One key per request being written: a second click, or a retry, is the same request;
  // a corrected form is a new one.
  let key = newKey();
  let lastSent = null;
  let sending = false;
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (sending) return;
    sending = true;
    const button = $('[data-testid="submit"]', form);
    button.disabled = true;
    try {
      await send();
    } finally {
      sending = false;
      button.disabled = false;
    }
  };
  const send = async () => {
    const body = {
      traveller: {
        id: $("#f-id").value.trim(), name: $("#f-name").value.trim(), org: $("#f-org").value.trim(),
        bsafe_valid_until: $("#f-bsafe").value || null, ssafe_valid_until: $("#f-ssafe").value || null,
      },
      purpose: $("#f-purpose").value.trim(),
      programme_criticality: $("#f-pc").value,
      mission_sra_reference: $("#f-msra").value.trim() || null,
      legs: [...form.querySelectorAll(".leg")].map((row) => ({
        area: $(".leg-area", row).value, arrival: $(".leg-arrival", row).value, departure: $(".leg-departure", row).value,
      })),
    };
    if (JSON.stringify(body) !== lastSent) {
      key = newKey();
      lastSent = JSON.stringify(body);
    }
    const record = await attempt(() => existing
      ? api("PATCH", `/v1/clearance-requests/${existing.id}`, body, undefined, key)
      : api("POST", "/v1/clearance-requests", body, undefined, key));
    if (!record) return;
    say(`Request ${STATUS_LABEL[record.status].toLowerCase()}.`, record.status === "refused" ? "error" : "ok");
    // A fresh form for the next request: nothing of this one is sent again by mistake.
    await requestForm(form, null, detail, list);
    await openRequest(record.id, detail, list);
    await refreshList(list, detail);
  };
}

let legCount = 0;
/** Adds an itinerary leg; `focus` when the user asked for it, so the next key goes there. */
function addLeg(known, leg = { area: "", arrival: today(7), departure: today(10) }, focus = false) {
  const n = ++legCount;
  // Each label and its field share one grid cell: the label cannot drift over another field.
  const field = (label, control) => el("div", { class: "field" }, el("label", { for: control.id }, label), control);
  const area = el("select", { id: `leg-area-${n}`, class: "leg-area", required: true },
    el("option", { value: "" }, "Choose an area"),
    known.map((a) => el("option", { value: a.code, selected: a.code === leg.area },
      `${a.code} ${a.name}: ${a.suspension ? "suspended" : a.in_force ? a.in_force.risk.replace("_", " ") : "no SRA"}`)));
  const row = el("div", { class: "leg", "data-testid": "leg" },
    field("Area", area),
    field("Arrival", el("input", { id: `leg-arr-${n}`, class: "leg-arrival", type: "date", required: true, value: leg.arrival })),
    field("Departure", el("input", { id: `leg-dep-${n}`, class: "leg-departure", type: "date", required: true, value: leg.departure })),
    el("button", {
      type: "button", class: "link", "data-testid": "remove-leg",
      onclick: () => {
        const previous = row.previousElementSibling && $(".leg-area", row.previousElementSibling);
        row.remove();
        (previous || $("#add-leg")).focus();
      },
    }, "Remove this leg"));
  $("#legs").append(row);
  if (focus) area.focus();
}

/** Search among the requests one may see: the API filters, so it stays fast however many. */
function searchForm(list, detail) {
  const form = el("form", { class: "toolbar", "data-testid": "search", role: "search", "aria-label": "Search requests" });
  const input = (id, label, attrs) => el("div", { class: "field" }, el("label", { for: id }, label), el("input", { id, ...attrs }));
  form.append(
    el("div", { class: "field" }, el("label", { for: "q-status" }, "Status"),
      el("select", { id: "q-status" }, el("option", { value: "" }, "Any"),
        Object.entries(STATUS_LABEL).map(([value, label]) => el("option", { value }, label)))),
    has("travel-unit", "admin") ? input("q-traveller", "Traveller id", { maxlength: 64 }) : null,
    input("q-area", "Area code", { maxlength: 32 }),
    input("q-from", "Travelling from", { type: "date" }),
    input("q-until", "until", { type: "date" }),
    el("button", { type: "submit" }, "Search"));
  form.onsubmit = async (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ limit: "50" });
    for (const [id, name] of [["q-status", "status"], ["q-traveller", "traveller"], ["q-area", "area"], ["q-from", "travel_from"], ["q-until", "travel_until"]]) {
      const field = $(`#${id}`, form);
      if (field && field.value.trim()) query.set(name, field.value.trim());
    }
    list.dataset.query = query.toString();
    delete list.dataset.fingerprint;
    await refreshList(list, detail);
  };
  return form;
}

async function refreshList(list, detail, quiet = false) {
  const path = `/v1/clearance-requests?${list.dataset.query || "limit=50"}`;
  const page = quiet
    ? await api("GET", path).catch(() => null)
    : await attempt(() => api("GET", path));
  if (!page) return;
  const fingerprint = page.items.map((r) => `${r.id}:${r.version}`).join(",");
  if (quiet && list.dataset.fingerprint === fingerprint) return;
  list.dataset.fingerprint = fingerprint;
  list.replaceChildren(page.items.length
    ? el("table", { class: "stack", "data-testid": "requests" },
      el("thead", {}, el("tr", {}, ["Submitted", "Traveller", "First leg", "Status", ""].map(header))),
      el("tbody", {}, page.items.map((r) => el("tr", {},
        el("td", {}, when(r.submitted_at)),
        el("td", {}, r.traveller.name),
        el("td", {}, `${r.legs[0].area} ${r.legs[0].arrival}`),
        el("td", {}, statusBadge(r.status)),
        el("td", {}, el("button", {
          type: "button", class: "link", "aria-label": `Open ${requestTitle(r)}`,
          onclick: () => openRequest(r.id, detail, list),
        }, "Open"))))))
    : el("p", { "data-testid": "no-requests" }, list.dataset.query ? "No request matches this search." : "No requests yet."));
}

async function openRequest(id, detail, list, { quiet = false } = {}) {
  const get = (path) => (quiet ? api("GET", path).catch(() => null) : attempt(() => api("GET", path)));
  const record = await get(`/v1/clearance-requests/${id}`);
  if (!record) return;
  // A quiet refresh redraws only what changed, so nothing moves under the reader.
  if (quiet && detail.dataset.id === id && detail.dataset.version === String(record.version)) return;
  const trail = await get(`/v1/clearance-requests/${id}/audit`);
  detail.dataset.id = id;
  detail.dataset.version = String(record.version);
  const actions = el("div", { class: "actions" });
  if (PENDING.includes(record.status)) {
    actions.append(el("button", {
      type: "button", class: "secondary", "data-testid": "withdraw",
      onclick: async () => {
        if (!window.confirm(`Withdraw ${requestTitle(record)}?`)) return;
        if (await attempt(() => api("POST", `/v1/clearance-requests/${id}/withdraw`, {}))) {
          await openRequest(id, detail, list);
          await refreshList(list, detail);
          say("Request withdrawn.", "ok");
        }
      },
    }, "Withdraw"));
  }
  if (["returned", "held"].includes(record.status)) {
    actions.append(el("button", {
      type: "button", class: "secondary", "data-testid": "amend",
      onclick: async () => {
        await requestForm(requestFormEl, record, detail, list);
        requestFormEl.scrollIntoView({ block: "start" });
        $("#f-purpose").focus();
      },
    }, "Amend"));
  }
  if (["cleared", "approved"].includes(record.status)) {
    actions.append(el("button", { type: "button", class: "secondary", "data-testid": "print", onclick: () => window.print() }, "Print the clearance"));
  }
  // What a printed clearance needs beyond the screen: the full reference and where to check it.
  const verify = `${location.origin}/#request=${record.id}`;
  detail.replaceChildren(
    el("h2", { "data-testid": "request-title" }, requestTitle(record)),
    el("p", { class: "print-only", "data-testid": "print-reference" },
      `Security clearance ${STATUS_LABEL[record.status].toLowerCase()}. Traveller: ${record.traveller.name} (${record.traveller.id}, ${record.traveller.org}). Purpose: ${record.purpose}. Reference: ${record.id}. Printed ${when(new Date().toISOString())}. Check it is still valid at `,
      el("a", { href: verify }, verify), "."),
    decisionCard(record),
    actions,
    el("h3", {}, "Timeline"),
    el("ol", { class: "timeline", "data-testid": "timeline" }, (trail ? trail.items : []).map(timelineEntry)));
  if (!quiet) detail.scrollIntoView({ block: "nearest" });
}

/** One audit entry: what happened, by whom, and the status it led to when it changed. */
function timelineEntry(e) {
  const moved = e.from !== e.to;
  const outcome = moved ? [": ", statusBadge(e.to)]
    : e.action === "approved" && e.to === "escalated" ? ": on to the next stage" : "";
  return el("li", {},
    el("time", { datetime: e.at }, when(e.at)), " ",
    el("strong", {}, e.action.replace(/_/g, " ")), ` by ${e.actor}`,
    e.stage ? ` (${stageName(e.stage)})` : "", outcome,
    e.comment ? el("q", {}, e.comment) : null);
}

// ---- Approvers -----------------------------------------------------------------------

function stages() {
  const s = [];
  if (has("approver-hq", "admin")) s.push("hq");
  if (has("approver-dg", "admin")) s.push("dg");
  return s;
}

async function queueView(view) {
  const own = stages();
  const picker = el("select", { id: "stage" }, own.map((s) => el("option", { value: s }, s === "hq" ? "HQ security" : "DG's office")));
  const live = el("span", { class: "live", "data-testid": "live" }, "connecting…");
  const list = el("div", { id: "queue" });
  const item = el("div", { id: "item" });
  view.append(
    el("h2", {}, "Approval queue"),
    el("div", { class: "toolbar" }, el("label", { for: "stage" }, "Stage"), picker, live),
    el("div", { class: "toolbar", role: "search", "aria-label": "Filter the queue" },
      el("label", { for: "queue-filter" }, "Traveller, organisation or area"),
      el("input", { id: "queue-filter", type: "search", maxlength: 100, oninput: () => loadQueue(picker.value, list, item) })),
    list, item);
  const load = () => loadQueue(picker.value, list, item);
  // A change that arrives live is announced to screen readers, not only drawn.
  const reload = async () => {
    const count = await load();
    if (count != null) $("#announce").textContent = `Queue updated: ${plural(count, "request", "requests")} waiting at ${stageName(picker.value)}.`;
  };
  picker.onchange = () => { load(); watch(picker.value, live, reload); };
  await load();
  watch(picker.value, live, reload);
}

async function loadQueue(stage, list, item) {
  const page = await attempt(() => api("GET", `/v1/escalations?stage=${stage}&limit=100`));
  if (!page) return null;
  // A stage's queue is short (only Very High risk waits in it): the page filters it.
  const words = ($("#queue-filter") ? $("#queue-filter").value : "").trim().toLowerCase();
  const matches = (q) => !words || [q.request.traveller.name, q.request.traveller.id, q.request.traveller.org,
    ...q.request.legs.map((l) => l.area)].join(" ").toLowerCase().includes(words);
  page.items = page.items.filter(matches);
  list.replaceChildren(page.items.length
    ? el("ul", { class: "queue", "data-testid": "queue" }, page.items.map((q) => el("li", { class: q.urgent ? "urgent" : "" },
      el("button", { type: "button", class: "item", "data-testid": "queue-item", onclick: () => openItem(q.request.id, stage, list, item) },
        q.urgent ? el("span", { class: "flag" }, "Within 72 h") : null,
        el("strong", {}, q.request.traveller.name), ` (${q.request.traveller.org}) `,
        q.request.legs.map((l) => `${l.area} ${l.arrival}`).join(" → "),
        el("small", {}, ` waiting ${plural(Math.round(q.seconds_in_queue / 60), "minute", "minutes")}`),
        q.claim ? el("small", { class: "claimed" }, ` claimed by ${q.claim.holder}`) : null))))
    : el("p", { "data-testid": "queue-empty" }, "Nothing waiting at this stage."));
  return page.items.length;
}

/** Shows one escalation; `draft` is a comment typed before a claim or release re-rendered it. */
async function openItem(id, stage, list, item, draft = "") {
  const record = await attempt(() => api("GET", `/v1/clearance-requests/${id}`));
  if (!record) return false;
  const comment = el("textarea", { id: "comment", rows: 3, maxlength: 2000 });
  comment.value = draft;
  // The outcome is announced only once the item is redrawn: announced earlier, a comment typed
  // in between went into the old field and was lost, and the decision was refused without one.
  const act = (path, body, done) => async () => {
    if (!(await attempt(() => api("POST", `/v1/escalations/${id}/${path}`, body)))) return;
    await loadQueue(stage, list, item);
    if (path === "decision") item.replaceChildren();
    else if (!(await openItem(id, stage, list, item, comment.value))) return;
    say(done, "ok");
  };
  const decide = (decision) => async () => {
    // Rejecting ends the request for good: ask first.
    if (decision === "reject" && !window.confirm(`Reject ${requestTitle(record)}? The traveller must submit a new request.`)) return;
    await act("decision", { decision, comment: comment.value, stage }, `Decision recorded: ${decision}.`)();
  };
  item.replaceChildren(
    el("h2", {}, requestTitle(record)),
    el("p", {}, record.purpose),
    el("p", {}, `${record.programme_criticality}, mission SRA ${record.mission_sra_reference || "none"}`),
    decisionCard(record),
    record.approval ? el("p", {}, `Chain: ${record.approval.chain.map(stageName).join(" → ")}.`) : null,
    el("div", { class: "actions" },
      el("button", { type: "button", "data-testid": "claim", onclick: act("claim", {}, "Claimed: it is yours for the lease period.") }, "Claim"),
      el("button", { type: "button", class: "secondary", onclick: act("release", {}, "Released back to the queue.") }, "Release")),
    el("label", { for: "comment" }, "Comment (required; the traveller sees it)"), comment,
    el("div", { class: "actions" },
      el("button", { type: "button", "data-testid": "approve", onclick: decide("approve") }, "Approve"),
      el("button", { type: "button", class: "danger", onclick: decide("reject") }, "Reject"),
      el("button", { type: "button", class: "secondary", onclick: decide("return") }, "Return to traveller")));
  return true;
}

/** Server-sent events over fetch (EventSource cannot send the bearer token). */
function watch(stage, indicator, reload) {
  if (stopWatching) stopWatching();
  const controller = new AbortController();
  stopWatching = () => controller.abort();
  const connect = async () => {
    try {
      const response = await fetch(`/v1/escalations/stream?stage=${stage}`, {
        headers: { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (!response.ok) throw new ApiError(response.status, null);
      indicator.textContent = "live";
      indicator.className = "live on";
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (/^event: token_expired/m.test(frame)) return signOut("Your session has ended; sign in again.");
          if (/^event: /m.test(frame)) reload();
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    indicator.textContent = "reconnecting…";
    indicator.className = "live";
    setTimeout(() => { if (!controller.signal.aborted) { reload(); connect(); } }, 3000);
  };
  connect();
}

// ---- Security analysts ------------------------------------------------------------------

async function areasView(view) {
  areasCache = null;
  const table = el("div", { id: "area-table" });
  const analyst = has("security-analyst", "admin");
  // In a crisis the locator is what is needed first: it comes before the long table.
  const locatorSlot = el("div");
  view.append(el("h2", {}, analyst ? "Crisis locator" : "Areas"), locatorSlot);
  if (analyst) view.append(el("h2", {}, "Areas"));
  view.append(table);
  await renderAreas(table);
  if (!analyst) return;
  const known = await areas();
  const codes = () => known.map((a) => el("option", { value: a.code }, `${a.code} ${a.name}`));
  if (has("security-analyst")) {
    const sra = el("form", { class: "card", "data-testid": "publish-form" },
      el("label", { for: "s-area" }, "Area"), el("select", { id: "s-area" }, codes()),
      el("label", { for: "s-version" }, "Version (the next one is filled in)"), el("input", { id: "s-version", type: "number", min: 1, required: true, value: 1 }),
      el("label", { for: "s-from" }, "Effective from"), el("input", { id: "s-from", type: "date", required: true, value: today() }),
      el("label", { for: "s-review" }, "Review due"), el("input", { id: "s-review", type: "date", required: true, value: today(180) }),
      el("label", { for: "s-level" }, "Security level (1 to 6)"), el("input", { id: "s-level", type: "number", min: 1, max: 6, required: true, value: 3 }),
      el("label", { for: "s-risk" }, "Residual risk"),
      el("select", { id: "s-risk" }, ["low", "medium", "high", "very_high", "unacceptable"].map((r) => el("option", { value: r }, r.replace("_", " ")))),
      el("label", { for: "s-measures" }, "Mandatory measures, one per line"), el("textarea", { id: "s-measures", rows: 3 }),
      el("div", { class: "actions" },
        el("button", { type: "submit", value: "draft", "data-testid": "save-draft" }, "Save as a draft"),
        el("button", { type: "submit", value: "publish", class: "secondary" }, "Publish now (signed off elsewhere)")));
    const versions = el("div", { id: "sra-versions", "data-testid": "sra-versions" });
    const progress = el("p", { id: "rescreen-progress", "data-testid": "rescreen-progress", role: "status" });
    sra.onsubmit = async (event) => {
      event.preventDefault();
      const draft = event.submitter && event.submitter.value === "draft";
      const body = {
        area: $("#s-area").value, version: Number($("#s-version").value),
        effective_from: $("#s-from").value, review_due: $("#s-review").value,
        security_level: Number($("#s-level").value), residual_risk: $("#s-risk").value,
        mandatory_measures: $("#s-measures").value.split("\n").map((m) => m.trim()).filter(Boolean),
      };
      const done = await attempt(() => api("POST", draft ? "/v1/sras/drafts" : "/v1/sras", body));
      if (done) {
        say(draft ? `Draft v${done.version} saved: it needs the SMT's endorsement and the DO's approval.`
          : `Published; ${plural(done.rescreening.requests, "request is", "requests are")} being screened again.`, "ok");
        if (done.rescreening) followRescreening(done.rescreening, progress);
        areasCache = null;
        await renderAreas(table);
        await nextVersion();
      }
    };
    view.append(el("h2", {}, "Draft or publish an SRA"), sra, el("h3", {}, "Versions of the chosen area"), progress, versions);
    // The chosen area's versions with the next step of each, and the next version number, so a
    // publication is not refused for a guess.
    const nextVersion = async () => {
      const listed = await attempt(() => api("GET", `/v1/sras?area=${encodeURIComponent($("#s-area").value)}`));
      if (!listed) return;
      $("#s-version").value = String(1 + Math.max(0, ...listed.items.map((s) => s.version)));
      const step = async (path, body, done, confirmText) => {
        if (confirmText && !window.confirm(confirmText)) return;
        const result = await attempt(() => api("POST", path, body));
        if (!result) return;
        say(done, "ok");
        if (result.rescreening) followRescreening(result.rescreening, progress);
        areasCache = null;
        await renderAreas(table);
        await nextVersion();
      };
      const signoff = (sra, what, path) => {
        const by = el("input", { "aria-label": `${what}: signed by`, placeholder: "Signed by", maxlength: 200 });
        const on = el("input", { "aria-label": `${what}: on`, type: "date", value: today() });
        return el("span", { class: "inline" }, by, on,
          el("button", { type: "button", onclick: () => step(`/v1/sras/${sra.id}/${path}`, { by: by.value.trim(), on: on.value }, `v${sra.version}: ${what.toLowerCase()} recorded.`) }, `Record ${what.toLowerCase()}`));
      };
      const next = (sra) => {
        if (sra.status === "draft") return signoff(sra, "Endorsement", "endorsement");
        if (sra.status === "endorsed" && !sra.approval) return signoff(sra, "Approval", "approval");
        if (sra.status === "endorsed") {
          return el("button", { type: "button", onclick: () => step(`/v1/sras/${sra.id}/publish`, undefined, `v${sra.version} published.`) }, "Publish");
        }
        if (sra.status === "published") {
          return el("button", {
            type: "button", class: "danger",
            onclick: () => step(`/v1/sras/${sra.id}/withdraw`, undefined, `v${sra.version} withdrawn.`,
              `Withdraw version ${sra.version} of the SRA for ${sra.area}? Requests it cleared are screened again against what remains in force.`),
          }, "Withdraw");
        }
        return null;
      };
      versions.replaceChildren(listed.items.length
        ? el("table", { class: "stack" },
          el("thead", {}, el("tr", {}, ["Version", "Status", "Risk", "From", "Signed off", ""].map(header))),
          el("tbody", {}, listed.items.map((s) => el("tr", {},
            el("td", {}, `v${s.version}`), el("td", {}, s.status), el("td", {}, riskBadge(s.residual_risk)),
            el("td", {}, s.effective_from),
            el("td", {}, [s.endorsement && `SMT: ${s.endorsement.by}, ${s.endorsement.on}`, s.approval && `DO: ${s.approval.by}, ${s.approval.on}`].filter(Boolean).join("; ") || "not yet"),
            el("td", {}, next(s))))))
        : el("p", {}, "No SRA for this area yet."));
    };
    $("#s-area").onchange = nextVersion;
    await nextVersion();
  }
  const locator = el("form", { class: "card", "data-testid": "locator-form" },
    el("label", { for: "l-area" }, "Area"), el("select", { id: "l-area" }, codes()),
    el("label", { for: "l-on" }, "Date"), el("input", { id: "l-on", type: "date", required: true, value: today() }),
    el("div", { class: "actions" },
      el("button", { type: "submit" }, "Who is there"),
      el("button", { type: "button", class: "secondary", id: "l-csv" }, "Download CSV")),
    el("div", { id: "l-result" }));
  const query = () => `/v1/areas/${$("#l-area").value}/personnel?on=${$("#l-on").value}`;
  locator.onsubmit = async (event) => {
    event.preventDefault();
    const found = await attempt(() => api("GET", query()));
    if (!found) return;
    $("#l-result").replaceChildren(el("p", { "data-testid": "locator-count" }, `${plural(found.count, "person holds", "people hold")} a clearance there on ${found.on}.`),
      found.count ? el("table", {}, el("tbody", {}, found.items.map((p) => el("tr", {},
        el("td", {}, p.traveller_name), el("td", {}, p.org), el("td", {}, `${p.arrival} to ${p.departure}`), el("td", {}, p.status))))) : null);
  };
  $("#l-csv", locator).onclick = async () => {
    const csv = await attempt(() => api("GET", query(), undefined, "text/csv"));
    if (csv == null) return;
    const link = el("a", { href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })), download: `personnel-${$("#l-area").value}-${$("#l-on").value}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
  };
  locatorSlot.append(locator);
}

const RISK_ORDER = ["unacceptable", "very_high", "high", "medium", "low"];
const riskRank = (a) => (a.suspension ? -1 : a.in_force ? RISK_ORDER.indexOf(a.in_force.risk) : RISK_ORDER.length);

/** The areas table with its own filter (code, name or country; risk) and order. Areas are
 * few (one per duty station), so the page filters what it already holds. */
async function renderAreas(table) {
  const all = await attempt(areas);
  if (!all) return;
  if (!table.querySelector('[data-testid="area-filter"]')) {
    const text = el("input", { id: "a-text", type: "search", maxlength: 100 });
    const risk = el("select", { id: "a-risk" }, el("option", { value: "" }, "Any"),
      [...RISK_ORDER, "suspended", "none"].map((r) => el("option", { value: r }, r === "none" ? "no SRA" : r.replace("_", " "))));
    const order = el("select", { id: "a-order" },
      [["code", "Code"], ["risk", "Highest risk first"], ["review", "Review due first"]].map(([v, l]) => el("option", { value: v }, l)));
    const filter = el("div", { class: "toolbar", role: "search", "aria-label": "Filter areas", "data-testid": "area-filter" },
      el("div", { class: "field" }, el("label", { for: "a-text" }, "Area, name or country"), text),
      el("div", { class: "field" }, el("label", { for: "a-risk" }, "Risk"), risk),
      el("div", { class: "field" }, el("label", { for: "a-order" }, "Order"), order));
    for (const control of [text, risk, order]) control.oninput = () => renderAreas(table);
    table.replaceChildren(filter, el("div", { id: "area-rows" }));
  }
  const words = $("#a-text", table).value.trim().toLowerCase();
  const wanted = $("#a-risk", table).value;
  const riskOf = (a) => (a.suspension ? "suspended" : a.in_force ? a.in_force.risk : "none");
  const known = all
    .filter((a) => !words || `${a.code} ${a.name} ${a.country}`.toLowerCase().includes(words))
    .filter((a) => !wanted || riskOf(a) === wanted)
    .sort({
      code: (a, b) => a.code.localeCompare(b.code),
      risk: (a, b) => riskRank(a) - riskRank(b) || a.code.localeCompare(b.code),
      review: (a, b) => ((a.in_force && a.in_force.review_due) || "9999").localeCompare((b.in_force && b.in_force.review_due) || "9999"),
    }[$("#a-order", table).value]);
  const analyst = has("security-analyst");
  $("#area-rows", table).replaceChildren(known.length ? el("table", { class: "stack", "data-testid": "areas" },
    el("thead", {}, el("tr", {}, ["Area", "Risk", "Security level", "SRA", ""].map(header))),
    el("tbody", {}, known.map((a) => el("tr", { class: a.review_overdue ? "overdue" : "" },
      el("th", { scope: "row" }, `${a.code} `, el("small", {}, `${a.name}, ${a.country}`)),
      el("td", {}, a.suspension ? el("span", { class: "risk suspended" }, `suspended (${a.suspension.reason.replace("_", " ")})`) : riskBadge(a.in_force && a.in_force.risk)),
      el("td", {}, a.in_force ? `Level ${a.in_force.security_level}` : ""),
      el("td", {}, a.review_overdue ? el("strong", {}, "Review overdue")
        : a.in_force ? `v${a.in_force.sra.version}, review by ${a.in_force.review_due}` : "none in force"),
      el("td", {}, analyst ? suspensionControl(a, table) : null)))))
    : el("p", { "data-testid": "no-areas" }, "No area matches this filter."));
}

/** Polls a re-screening job until it is done, showing how far it got. */
async function followRescreening(job, line) {
  for (let i = 0; i < 600; i++) {
    const state = await api("GET", `/v1/rescreening/${job.id}`).catch(() => null);
    if (state) {
      line.textContent = `Re-screening: ${state.processed} of ${plural(state.total, "request", "requests")} screened, ${state.changed} changed${state.status === "done" ? "; done." : "…"}`;
      if (state.status === "done") return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function suspensionControl(area, table) {
  const change = async (method, body, done) => {
    if (await attempt(() => api(method, `/v1/areas/${area.code}/suspension`, body))) {
      areasCache = null;
      await renderAreas(table);
      say(done, "ok");
    }
  };
  if (area.suspension) {
    const lift = () => {
      if (!window.confirm(`Lift the suspension of ${area.code} (${area.name})? Requests there are decided against its SRA again, and held ones may clear.`)) return;
      change("DELETE", undefined, `${area.code}: operations resume.`);
    };
    return el("button", { type: "button", class: "secondary", "aria-label": `Lift the suspension of ${area.code}`, onclick: lift }, "Lift");
  }
  const reason = el("select", { "aria-label": `Suspension reason for ${area.code}` },
    ["relocation", "evacuation", "programme_suspension"].map((r) => el("option", { value: r }, r.replace("_", " "))));
  const suspend = () => {
    const why = reason.options[reason.selectedIndex].textContent;
    // One click must not start an evacuation: say what it does and ask.
    if (!window.confirm(`Suspend ${area.code} (${area.name}) for ${why}? New requests there are held and every issued clearance touching it is screened again.`)) return;
    change("POST", { reason: reason.value }, `${area.code} suspended for ${why}.`);
  };
  return el("span", { class: "inline" }, reason,
    el("button", { type: "button", class: "danger", "aria-label": `Suspend ${area.code}`, onclick: suspend }, "Suspend"));
}

// ---- Start ---------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.environment === "development") $("#dev-sign-in").hidden = false;
  $("#dev-sign-in").onsubmit = async (event) => {
    event.preventDefault();
    const role = $("#dev-role").value;
    const org = $("#dev-org").value.trim() || null;
    const issued = await attempt(() => api("POST", "/dev/token", { sub: $("#dev-name").value.trim(), roles: [role], org }));
    if (issued) start(issued.token);
  };
  $("#token-sign-in").onsubmit = (event) => {
    event.preventDefault();
    start($("#token").value.trim());
  };
  $("#sign-out").onclick = () => signOut();
  // An identity provider may hand the token over in the fragment (never sent to a server):
  // https://clearway.example.org/#access_token=...
  const handed = new URLSearchParams(location.hash.slice(1)).get("access_token");
  if (handed) {
    history.replaceState(null, "", location.pathname);
    start(handed);
    return;
  }
  const saved = sessionStorage.getItem(STORAGE);
  if (saved) start(saved);
});
