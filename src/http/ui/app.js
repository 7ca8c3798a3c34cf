// clearway's web page: the same JSON API travel units use, with the caller's bearer token.
// No framework: a few views rendered from plain DOM calls, so the page works offline.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const STORAGE = "clearway.token";
const STATUSES = ["cleared", "held", "refused", "escalated", "approved", "rejected", "returned", "withdrawn", "revoked", "expired"];
const PENDING = ["escalated", "held", "returned"];

let session = null; // { token, sub, roles, org }
let stopWatching = null;
let currentView = null;

// ---- Language --------------------------------------------------------------------------
// Every word the page shows comes from /i18n/<language> (src/http/ui/i18n/<language>.json):
// adding a language is adding that file. English fills any key a language lacks.

const LANGUAGE = "clearway.language";
let locale = "en";
let strings = {};
let english = {};

/** The words for `key`, with `{name}` replaced from `params`; `{n: ...}` picks the plural. */
function t(key, params = {}) {
  let text = strings[key] ?? english[key] ?? key;
  if (typeof text === "object") text = text[new Intl.PluralRules(locale).select(params.n)] ?? text.other;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** The user's choice if they made one, else the first of the browser's languages offered. */
function chooseLanguage() {
  const offered = [...$("#language").options].map((o) => o.value);
  const saved = localStorage.getItem(LANGUAGE);
  if (offered.includes(saved)) return saved;
  for (const wanted of navigator.languages || [navigator.language]) {
    const base = String(wanted).toLowerCase().split("-")[0];
    if (offered.includes(base)) return base;
  }
  return "en";
}

async function useLanguage(language) {
  const load = async (name) => {
    const response = await fetch(`/i18n/${name}`, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`no strings for ${name}`);
    return response.json();
  };
  try {
    if (!english["language.name"]) english = await load("en");
    strings = language === "en" ? english : await load(language);
  } catch {
    strings = english;
    language = "en";
  }
  // Dates as the reader's region writes them (en-GB: 7 Dec 2026, 14:00), in the chosen language.
  const regional = (navigator.languages || []).find((l) => String(l).toLowerCase().split("-")[0] === language);
  locale = regional || language;
  document.documentElement.lang = language;
  $("#language").value = language;
  document.title = t("page.title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
}

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
  if (tag === "table" && node.classList.contains("stack")) labelStacked(node);
  return node;
}

/** A stacked table (one block per row on a phone) hides its header: each cell carries its
 * column's name, which the style sheet shows before the value. */
function labelStacked(table) {
  const names = [...table.querySelectorAll("thead th")]
    .map((th) => (th.querySelector(".visually-hidden") ? "" : th.textContent.trim()));
  for (const row of table.querySelectorAll("tbody tr")) {
    [...row.children].forEach((cell, i) => {
      if (cell.tagName === "TD" && names[i]) cell.dataset.label = `${names[i]}${t("punct.colon")}`;
    });
  }
}

/** Replaces `node`'s children, leaving out the absent ones (`null`, `false`): the DOM's own
 * `replaceChildren` would print them as the text "null". */
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
}

function say(text, kind = "info") {
  const box = $("#message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

/** A problem+json answer as one readable sentence: the language's words for its `code`
 * where the language file has them, else the service's own (English) title and detail. */
class ApiError extends Error {
  constructor(status, problem) {
    super(problemText(status, problem || {}));
    this.status = status;
    this.problem = problem || {};
  }
}

/** The form field a problem's JSON pointer names, in the reader's words where the page has
 * them (`/legs/1/arrival`: the second leg's arrival), else the pointer. */
const FIELD_LABELS = {
  "/traveller/id": "form.traveller_id", "/traveller/name": "form.name", "/traveller/org": "form.org",
  "/traveller/bsafe_valid_until": "form.bsafe", "/traveller/ssafe_valid_until": "form.ssafe",
  "/traveller/email": "form.email", "/traveller/language": "form.mail_language",
  "/purpose": "form.purpose", "/programme_criticality": "form.pc", "/mission_sra_reference": "form.msra",
  "/version": "sra.version", "/effective_from": "sra.from", "/review_due": "sra.review",
  "/security_level": "sra.level", "/residual_risk": "sra.risk", "/mandatory_measures": "sra.measures",
  "/comment": "queue.comment", "/by": "sra.signed_by_placeholder",
};
function fieldLabel(pointer) {
  const leg = /^\/legs\/(\d+)\/(area|arrival|departure|transit|travel\/operator|travel\/flight_number|travel\/mode)$/.exec(pointer);
  if (leg) return t("error.leg_field", { n: Number(leg[1]) + 1, field: t(`leg.${leg[2].replace("travel/", "").replace("mode", "travel")}`) });
  const whole = /^\/legs\/(\d+)$/.exec(pointer);
  if (whole) return t("error.leg", { n: Number(whole[1]) + 1 });
  return FIELD_LABELS[pointer] ? t(FIELD_LABELS[pointer]) : pointer;
}

function problemText(status, problem) {
  const translated = problem.code && strings[`error.${problem.code}`];
  if (translated) return problem.field ? `${translated} ${t("error.field", { field: fieldLabel(problem.field) })}` : translated;
  const detail = problem.detail || problem.title;
  return detail ? `${problem.title || t("error.title")}: ${detail}` : t("error.status", { status });
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
    if (response.status === 401) signOut(t("signin.ended"));
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
    say(error instanceof ApiError ? error.message : t("error.unreachable"), "error");
    return undefined;
  }
}

/** A date and time in the reader's locale, with its time zone named. */
function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, {
    // dateStyle and timeStyle cannot be combined with timeZoneName.
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short",
  }).format(date);
}

/** A calendar date (YYYY-MM-DD, no time, no zone) in the reader's locale. */
function day(date) {
  const parsed = new Date(`${date}T00:00:00Z`);
  if (!date || Number.isNaN(parsed.getTime())) return date || "";
  return new Intl.DateTimeFormat(locale, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" }).format(parsed);
}

/** A request as people tell it apart: who, where, when, and the id's random tail (its
 * head is a timestamp, the same for every request of the same minute). */
function requestTitle(record) {
  const first = record.legs[0];
  return t("request.title", { name: record.traveller.name, area: first.area, date: day(first.arrival), ref: record.id.slice(-8) });
}

const statusWord = (status) => t(`status.${status}`);
const riskWord = (risk) => t(`risk.${risk || "none"}`);

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
    say(t("signin.not_jwt"), "error");
    return;
  }
  session = { token, sub: claims.sub, roles: claims.roles || [], org: claims.org || null };
  sessionStorage.setItem(STORAGE, token);
  $("#sign-in").hidden = true;
  $("#who").hidden = false;
  whoName();
  tabs();
}

function whoName() {
  if (!session) return;
  const roles = session.roles.map((r) => t(`role.${r}`));
  $("#who-name").textContent = [session.sub, roles.join(", "), session.org].filter(Boolean).join(" · ");
}

function signOut(text = "") {
  if (stopWatching) stopWatching();
  session = null;
  sessionStorage.removeItem(STORAGE);
  $("#sign-in").hidden = false;
  $("#who").hidden = true;
  $("#tabs").hidden = true;
  $("#view").hidden = true;
  currentView = null;
  say(text, text ? "error" : "info");
}

const has = (...roles) => session && roles.some((r) => session.roles.includes(r));

/** The tabs the caller's roles open; `open` names the one to show (else the first). */
function tabs(open = null) {
  const nav = $("#tabs");
  nav.replaceChildren();
  const views = [["home", homeView]];
  if (has("traveller", "travel-unit")) views.push(["requests", requestsView]);
  if (has("approver-hq", "approver-dg", "admin")) views.push(["queue", queueView]);
  if (has("security-analyst", "admin")) views.push(["areas", areasView]);
  if (has("security-analyst", "admin", "travel-unit")) views.push(["incidents", incidentsView]);
  if (has("aviation-risk", "travel-unit", "security-analyst", "admin")) views.push(["operators", operatorsView]);
  if (views.length === 1) views.push(["areas-read", areasView]);
  for (const [id, render] of views) {
    nav.append(el("button", {
      type: "button", id: `tab-${id}`, "data-testid": `tab-${id}`,
      onclick: () => show(id, render),
    }, t(`tab.${id}`)));
  }
  nav.hidden = false;
  const [id, render] = views.find(([v]) => v === open) || views[0];
  show(id, render);
}

function show(id, render) {
  if (stopWatching) stopWatching();
  currentView = id;
  for (const button of $("#tabs").children) {
    button.setAttribute("aria-current", button.id === `tab-${id}` ? "page" : "false");
  }
  const view = $("#view");
  view.hidden = false;
  view.replaceChildren();
  say("");
  // Until the view's data arrived: say so, and tell assistive technology the view is busy.
  const loading = el("p", { class: "hint", "data-testid": "loading" }, t("page.loading"));
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
const header = (key) => el("th", { scope: "col" }, key ? t(key) : el("span", { class: "visually-hidden" }, t("page.actions")));

function statusBadge(status) {
  return el("span", { class: `badge ${status}`, "data-testid": "status" }, statusWord(status));
}

function riskBadge(risk) {
  return el("span", { class: `risk ${risk || "none"}` }, riskWord(risk));
}

const today = (days = 0) => new Date(Date.now() + days * 86400000).toISOString().slice(0, 10);

const PROGRAMME_CRITICALITIES = ["PC1", "PC2", "PC3", "PC4"];
const stageName = (s) => t(`stage.${s}`);
const capitalise = (text) => text.replace(/^./, (c) => c.toUpperCase());

/** Why a leg got its outcome, in the reader's language: built from the leg's `code` and the
 * request's facts, not from the service's English `reason`. */
function legReason(record, index) {
  const leg = record.decision.legs[index];
  const asked = record.legs[index] || {};
  return t(`reason.${leg.code}`, {
    risk: riskWord(leg.risk), version: leg.sra ? leg.sra.version : "", pc: record.programme_criticality,
    arrival: day(asked.arrival), departure: day(asked.departure),
    operator: asked.travel && asked.travel.operator ? asked.travel.operator : "",
    chain: (record.decision.approval_chain || []).map(stageName).join(t("reason.then")),
  });
}

/** The request's reason: its strictest leg's, the first of them where several tie. */
function requestReason(record) {
  const d = record.decision;
  if (d.outcome === "cleared") {
    return d.legs.length > 1 ? t("reason.all_legs", { n: d.legs.length }) : capitalise(legReason(record, 0));
  }
  const index = Math.max(0, d.legs.findIndex((leg) => leg.outcome === d.outcome && leg.code === d.code));
  return t("reason.leg", { n: index + 1, area: d.legs[index].area, reason: legReason(record, index) });
}

/** Where the request stands now, in words: the screening's reason while nothing happened
 * since, the approvers' decisions once the chain acted. */
function headline(record) {
  const decided = (record.approval ? record.approval.decisions : [])
    .map((d) => t(`headline.decided.${d.verdict}`, { approver: d.approver, stage: stageName(d.stage), when: when(d.decided_at) }));
  switch (record.status) {
    case "escalated":
      return [t("headline.waiting", { stage: stageName(record.approval && record.approval.stage) }),
        ...decided.map((decision) => t("headline.already", { decision }))].join(" ");
    case "approved": case "rejected": case "returned":
      return decided.length ? capitalise(`${decided.join(t("punct.semicolon"))}.`) : requestReason(record);
    case "withdrawn": return t("headline.withdrawn");
    case "revoked": return t("headline.revoked");
    case "expired": return t("headline.expired");
    default: return requestReason(record);
  }
}

/** A leg's screening outcome: "escalated" there means it needs the approval chain. */
/** A leg's screening outcome. "escalated" there means it needed the approval chain: once the
 * chain decided, the leg reads as the chain's decision, not as still waiting. */
function legOutcome(outcome, status) {
  if (outcome !== "escalated") {
    return el("span", { class: `badge ${outcome}`, "data-testid": "leg-outcome" }, statusWord(outcome));
  }
  const decided = ["approved", "rejected", "returned"].includes(status) ? status : null;
  return el("span", { class: `badge ${decided || "escalated"}`, "data-testid": "leg-outcome" },
    decided ? statusWord(decided) : t("decision.needs_approval"));
}

/** `forApprover`: the approver's copy, without the traveller's next step. */
function decisionCard(record, forApprover = false) {
  const d = record.decision;
  // What the traveller can do next, or whom to ask.
  const next = forApprover ? null : `next.${record.status}`;
  return el("div", { class: "card decision", "data-testid": "decision" },
    el("p", { "data-testid": "headline" }, statusBadge(record.status), " ", headline(record)),
    next && (next in english) ? el("p", { class: "next-step", "data-testid": "next-step" }, t(next)) : null,
    el("details", { class: "hint" }, el("summary", {}, t("decision.help_title")), el("p", {}, t("decision.help"))),
    el("table", { class: "stack" },
      el("caption", { class: "visually-hidden" }, t("decision.caption")),
      el("thead", {}, el("tr", {}, ["area", "dates", "risk", "sra", "screening", "why", "conditions"].map((h) => header(`decision.${h}`)))),
      el("tbody", {}, d.legs.map((leg, index) => el("tr", {},
        el("td", {}, leg.area),
        el("td", {}, record.legs[index] ? [t("locator.stay", { arrival: day(record.legs[index].arrival), departure: day(record.legs[index].departure) }),
          record.legs[index].transit ? ` (${t(`leg.transit_${record.legs[index].transit}`)})` : "",
          record.legs[index].travel ? el("br") : null, travelWords(record.legs[index].travel)] : ""),
        el("td", {}, riskBadge(leg.risk)),
        el("td", {}, leg.sra ? `v${leg.sra.version}` : t("page.none")),
        el("td", {}, legOutcome(leg.outcome, record.status)),
        el("td", { "data-testid": "leg-reason" }, el("strong", {}, t(`code.${leg.code}`)), t("punct.colon"), legReason(record, index)),
        el("td", {}, leg.conditions.length ? el("ul", {}, leg.conditions.map((c) => el("li", {}, c))) : t("page.none")),
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
/** A figure's label, in the plural form its number asks for where the language has one. */
const counted = (key, n) => t(key, { n });
const figure = (testid, value, label) =>
  el("div", { class: "figure", "data-testid": `figure-${testid}` }, el("strong", {}, String(value)), el("span", {}, label));

async function homeView(view) {
  view.append(el("h2", {}, t("home.title", { name: session.sub })));
  const body = el("div", { "aria-busy": "true" }, el("p", { class: "hint" }, t("page.loading")));
  view.append(body);
  const parts = [];
  if (has("traveller")) parts.push(await attempt(checkInsHome));
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
    el("h3", { id: "home-trips" }, t(has("travel-unit") ? "home.trips_unit" : "home.trips")),
    el("div", { class: "figures" },
      figure("cleared", count("cleared") + count("approved"), counted("home.cleared", count("cleared") + count("approved"))),
      figure("waiting", count("escalated"), counted("home.waiting", count("escalated"))),
      figure("action", action.length, counted("home.action", action.length)),
      figure("closed", count("refused") + count("rejected") + count("withdrawn"), counted("home.closed", count("refused") + count("rejected") + count("withdrawn")))),
    el("p", { "data-testid": "next-trip" }, upcoming
      ? t("home.next_trip", { title: requestTitle(upcoming) }) : t("home.no_trip")),
    action.length ? el("ul", {}, action.map((r) => el("li", {}, `${statusWord(r.status)}${t("punct.colon")}${requestTitle(r)}`))) : null);
}

async function approverHome() {
  const sections = [];
  for (const stage of stages()) {
    const items = await everything(`/v1/escalations?stage=${stage}`);
    const oldest = Math.max(0, ...items.map((q) => q.seconds_in_queue));
    sections.push(el("section", { class: "card", "aria-labelledby": `home-${stage}` },
      el("h3", { id: `home-${stage}` }, t("home.waiting_at", { stage: stageName(stage) })),
      el("div", { class: "figures" },
        figure(`${stage}-pending`, items.length, counted("home.pending", items.length)),
        figure(`${stage}-urgent`, items.filter((q) => q.urgent).length, counted("home.urgent", items.filter((q) => q.urgent).length)),
        figure(`${stage}-mine`, items.filter((q) => q.claim && q.claim.holder === session.sub).length,
          counted("home.mine", items.filter((q) => q.claim && q.claim.holder === session.sub).length)),
        figure(`${stage}-oldest`, !items.length ? t("page.none")
          : oldest < 3600 ? t("n.minutes", { n: Math.round(oldest / 60) }) : t("n.hours", { n: Math.round(oldest / 3600) }), t("home.oldest")))));
  }
  return el("div", {}, sections);
}

async function analystHome() {
  const known = (await api("GET", "/v1/areas")).items;
  const levels = ["low", "medium", "high", "very_high", "unacceptable"];
  const riskOf = (a) => (a.suspension ? "suspended" : a.in_force ? a.in_force.risk : "none");
  const soon = today(30);
  const due = known.filter((a) => a.review_overdue || (a.in_force && a.in_force.review_due <= soon));
  const counts = await api("GET", `/v1/headcounts?on=${today()}`);
  const people = known.map((a) => [a, (counts.items.find((h) => h.area === a.code) || { people: 0 }).people]);
  // Re-screenings under way follow live while the overview is shown. (Their `reason` is the
  // service's English; the area, the time and who caused it say enough here.)
  const jobs = el("div", { "data-testid": "rescreens" });
  const drawJobs = async () => {
    const recent = await api("GET", "/v1/rescreening?limit=5").catch(() => null);
    if (!recent) return true;
    fill(jobs, recent.items.length
      ? el("ul", {}, recent.items.map((j) => el("li", { "data-job": j.id, "data-status": j.status },
        el("strong", {}, j.area), ` ${when(j.created_at)} `, el("small", {}, t("timeline.by", { actor: j.actor })), t("punct.colon"),
        t(j.status === "done" ? "rescreen.done" : "rescreen.progress", {
          processed: j.processed, total: t("n.requests", { n: j.total }), changed: j.changed,
        }))))
      : el("p", {}, t("home.rescreens_none")));
    return recent.items.every((j) => j.status === "done");
  };
  if (!(await drawJobs())) {
    const timer = setInterval(async () => { if (await drawJobs()) clearInterval(timer); }, 2000);
    stopWatching = () => clearInterval(timer);
  }
  return el("section", { class: "card", "aria-labelledby": "home-areas" },
    el("h3", { id: "home-areas" }, t("home.areas")),
    el("div", { class: "figures" },
      [...levels, "suspended", "none"].map((r) => {
        const n = known.filter((a) => riskOf(a) === r).length;
        return figure(`risk-${r}`, n, r === "none" ? counted("home.risk_none", n)
          : r === "suspended" ? counted("home.risk_suspended", n) : t("home.risk_level", { risk: riskWord(r) }));
      })),
    el("h4", {}, t("home.reviews")),
    due.length ? el("ul", { "data-testid": "reviews-due" }, due.map((a) => el("li", {}, a.review_overdue
      ? t("home.review_overdue", { area: `${a.code} ${a.name}` })
      : t("home.review_due", { area: `${a.code} ${a.name}`, date: day(a.in_force.review_due) }))))
      : el("p", { "data-testid": "reviews-due" }, t("home.none")),
    el("h4", {}, t("home.people")),
    people.some(([, n]) => n > 0)
      ? el("table", { class: "stack", "data-testid": "people-today" },
        el("thead", {}, el("tr", {}, ["home.people_area", "home.people_count"].map(header))),
        el("tbody", {}, people.filter(([, n]) => n > 0).map(([a, n]) => el("tr", {}, el("td", {}, `${a.code} ${a.name}`), el("td", {}, String(n))))))
      : el("p", { "data-testid": "people-today" }, t("home.nobody")),
    el("h4", {}, t("home.rescreens")), jobs);
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
  view.append(el("h2", { id: "form-title" }, t("form.new")), form, detail, el("h2", {}, t("list.title")), search, list);
  await requestForm(form, null, detail, list);
  await refreshList(list, detail);
  const linked = new URLSearchParams(location.hash.slice(1)).get("request");
  if (linked) {
    history.replaceState(null, "", location.pathname);
    await openRequest(linked, detail, list);
  }
  // Approvals, returns, revocations and expiries happen elsewhere: the service says when.
  const live = el("span", { class: "live", "data-testid": "live", "aria-live": "off" }, t("queue.connecting"));
  search.before(live);
  watch("/v1/clearance-requests/stream", live, async () => {
    await refreshList(list, detail, true);
    const open = detail.dataset.id;
    if (open) await openRequest(open, detail, list, { quiet: true });
  });
}

async function requestForm(form, existing, detail, list) {
  $("#form-title").textContent = existing ? t("form.amend_title", { title: requestTitle(existing) }) : t("form.new");
  const known = await attempt(areas) || [];
  const who = existing ? existing.traveller : {};
  // A hint is tied to its field (aria-describedby), so a screen reader reads it with the field.
  const field = (id, label, attrs, hint) => [
    el("label", { for: id }, label),
    el("input", { id, name: id, "aria-describedby": hint ? `${id}-hint` : null, ...attrs }),
    hint ? el("small", { id: `${id}-hint`, class: "hint" }, hint) : null,
  ];
  form.replaceChildren(
    el("fieldset", {}, el("legend", {}, t("form.traveller")),
      field("f-id", t("form.traveller_id"), { required: true, value: who.id || session.sub, readonly: !has("travel-unit") }),
      field("f-name", t("form.name"), { required: true, value: who.name || session.sub }),
      field("f-org", t("form.org"), { required: true, value: who.org || session.org || "" }),
      field("f-bsafe", t("form.bsafe"), { type: "date", value: who.bsafe_valid_until || today(365) }, t("form.bsafe_hint")),
      field("f-ssafe", t("form.ssafe"), { type: "date", value: who.ssafe_valid_until || today(365) }, t("form.ssafe_hint")),
      field("f-email", t("form.email"), { type: "email", maxlength: 254, autocomplete: "email", value: who.email || "" }, t("form.email_hint")),
      el("label", { for: "f-lang" }, t("form.mail_language")),
      el("select", { id: "f-lang" },
        el("option", { value: "" }, t("form.mail_language_default")),
        [...$("#language").options].map((o) => el("option", { value: o.value, selected: (who.language || (has("travel-unit") ? "" : document.documentElement.lang)) === o.value }, o.textContent)))),
    el("fieldset", {}, el("legend", {}, t("form.mission")),
      field("f-purpose", t("form.purpose"), { required: true, value: existing ? existing.purpose : "" }),
      el("label", { for: "f-pc" }, t("form.pc")),
      el("select", { id: "f-pc", "aria-describedby": "f-pc-hint" }, PROGRAMME_CRITICALITIES.map((pc) =>
        el("option", { value: pc, selected: (existing ? existing.programme_criticality : "PC3") === pc }, t("pc.option", { pc, what: t(`pc.${pc}`) })))),
      el("small", { id: "f-pc-hint", class: "hint" }, t("form.pc_hint")),
      field("f-msra", t("form.msra"), { value: existing && existing.mission_sra_reference || "" }, t("form.msra_hint"))),
    el("fieldset", { id: "legs" }, el("legend", {}, t("form.itinerary"))),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "secondary", id: "add-leg", onclick: () => addLeg(known, undefined, true) }, t("form.add_leg")),
      el("button", { type: "submit", "data-testid": "submit" }, t(existing ? "form.resubmit" : "form.submit"))));
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
        email: $("#f-email").value.trim() || null, language: $("#f-lang").value || null,
      },
      purpose: $("#f-purpose").value.trim(),
      programme_criticality: $("#f-pc").value,
      mission_sra_reference: $("#f-msra").value.trim() || null,
      legs: [...form.querySelectorAll(".leg")].map((row) => ({
        area: $(".leg-area", row).value, arrival: $(".leg-arrival", row).value, departure: $(".leg-departure", row).value,
        transit: $(".leg-transit", row).value || null,
        travel: legTravel(row),
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
    // A fresh form for the next request: nothing of this one is sent again by mistake.
    await requestForm(form, null, detail, list);
    await openRequest(record.id, detail, list);
    await refreshList(list, detail);
    say(t("form.done", { status: statusWord(record.status).toLowerCase() }), record.status === "refused" ? "error" : "ok");
  };
}

/** How a leg is travelled, in words: "Flight KQ310 (KQA)". */
function travelWords(travel) {
  if (!travel) return "";
  const number = travel.flight_number ? ` ${travel.flight_number}` : "";
  const operator = travel.operator ? ` (${travel.operator})` : "";
  return `${t(`leg.mode_${travel.mode}`)}${number}${operator}`;
}

/** A leg row's `travel`, or null when the form does not say how it is travelled. */
function legTravel(row) {
  const mode = $(".leg-mode", row).value;
  if (!mode) return null;
  const number = $(".leg-flight-number", row).value.trim();
  if (mode === "flight") return { mode, operator: $(".leg-operator", row).value.trim(), flight_number: number };
  if (mode === "unhas") return { mode, flight_number: number || null };
  return { mode };
}

let legCount = 0;
/** Adds an itinerary leg; `focus` when the user asked for it, so the next key goes there. */
function addLeg(known, leg = { area: "", arrival: today(7), departure: today(10) }, focus = false) {
  const n = ++legCount;
  // Each label and its field share one grid cell: the label cannot drift over another field.
  const field = (label, control) => el("div", { class: "field" }, el("label", { for: control.id }, label), control);
  const area = el("select", { id: `leg-area-${n}`, class: "leg-area", required: true },
    el("option", { value: "" }, t("leg.choose")),
    known.map((a) => el("option", { value: a.code, selected: a.code === leg.area },
      `${a.code} ${a.name}${t("punct.colon")}${riskWord(a.suspension ? "suspended" : a.in_force && a.in_force.risk)}`)));
  // How the leg is travelled: a flight names its operator and number, UNHAS its number.
  const travel = leg.travel || {};
  const mode = el("select", { id: `leg-mode-${n}`, class: "leg-mode" },
    ["", "flight", "unhas", "road"].map((v) => el("option", { value: v, selected: (travel.mode || "") === v }, t(`leg.mode_${v || "none"}`))));
  const operatorField = field(t("leg.operator"), el("input", {
    id: `leg-op-${n}`, class: "leg-operator", value: travel.operator || "", maxlength: 3, autocapitalize: "characters", placeholder: "KQA" }));
  const numberField = field(t("leg.flight_number"), el("input", {
    id: `leg-fn-${n}`, class: "leg-flight-number", value: travel.flight_number || "", maxlength: 12, placeholder: "KQ310" }));
  const showTravel = () => {
    operatorField.hidden = mode.value !== "flight";
    numberField.hidden = !["flight", "unhas"].includes(mode.value);
  };
  mode.addEventListener("change", showTravel);
  showTravel();
  const row = el("div", { class: "leg", "data-testid": "leg" },
    field(t("leg.area"), area),
    field(t("leg.arrival"), el("input", { id: `leg-arr-${n}`, class: "leg-arrival", type: "date", required: true, value: leg.arrival })),
    field(t("leg.departure"), el("input", { id: `leg-dep-${n}`, class: "leg-departure", type: "date", required: true, value: leg.departure })),
    field(t("leg.transit"), el("select", { id: `leg-transit-${n}`, class: "leg-transit" },
      ["", "airside", "landside"].map((v) => el("option", { value: v, selected: (leg.transit || "") === v }, t(`leg.transit_${v || "none"}`))))),
    field(t("leg.travel"), mode),
    operatorField, numberField,
    el("button", {
      type: "button", class: "link", "data-testid": "remove-leg",
      onclick: () => {
        const previous = row.previousElementSibling && $(".leg-area", row.previousElementSibling);
        row.remove();
        (previous || $("#add-leg")).focus();
      },
    }, t("leg.remove")));
  $("#legs").append(row);
  if (focus) area.focus();
}

/** Search among the requests one may see: the API filters, so it stays fast however many. */
function searchForm(list, detail) {
  const form = el("form", { class: "toolbar", "data-testid": "search", role: "search", "aria-label": t("search.label") });
  const input = (id, label, attrs) => el("div", { class: "field" }, el("label", { for: id }, label), el("input", { id, ...attrs }));
  fill(form,
    el("div", { class: "field" }, el("label", { for: "q-status" }, t("search.status")),
      el("select", { id: "q-status" }, el("option", { value: "" }, t("search.any")),
        STATUSES.map((value) => el("option", { value }, statusWord(value))))),
    has("travel-unit", "admin") ? input("q-traveller", t("search.traveller"), { maxlength: 64 }) : null,
    input("q-area", t("search.area"), { maxlength: 32 }),
    input("q-from", t("search.from"), { type: "date" }),
    input("q-until", t("search.until"), { type: "date" }),
    el("div", { class: "field" }, el("label", { for: "q-order" }, t("search.order")),
      el("select", { id: "q-order", onchange: () => drawList(list, detail) },
        REQUEST_ORDERS.map((o) => el("option", { value: o }, t(`search.order.${o}`))))),
    el("button", { type: "submit" }, t("search.submit")));
  form.onsubmit = async (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
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

/** How the loaded requests can be ordered. The API pages newest first (a keyset that stays
 * fast at any size); the page orders what it has loaded, and says so when there is more. */
const REQUEST_ORDERS = ["newest", "travel", "traveller", "status"];
const firstArrival = (r) => r.legs.reduce((soonest, l) => (l.arrival < soonest ? l.arrival : soonest), r.legs[0].arrival);
const REQUEST_ORDER = {
  newest: () => 0, // as the API gives them
  travel: (a, b) => firstArrival(a).localeCompare(firstArrival(b)),
  traveller: (a, b) => a.traveller.name.localeCompare(b.traveller.name, locale) || firstArrival(a).localeCompare(firstArrival(b)),
  status: (a, b) => STATUSES.indexOf(a.status) - STATUSES.indexOf(b.status) || firstArrival(a).localeCompare(firstArrival(b)),
};
const PAGE = 50;

/** Loads the first page of the search or, quietly, as many as are shown (up to the API's
 * 200), to see changes. One load at a time: a refresh never overwrites a page just added. */
async function refreshList(list, detail, quiet = false) {
  const shown = (list.items || []).length;
  if (quiet && (list.loading || shown > 200)) return;
  const query = new URLSearchParams(list.dataset.query || "");
  query.set("limit", String(quiet ? Math.max(PAGE, shown) : PAGE));
  const path = `/v1/clearance-requests?${query}`;
  list.loading = true;
  // Only the latest load may draw: a live refresh started before a search (or before the
  // requests it lists were all stored) must not land after it and show older news.
  const ticket = (list.ticket = (list.ticket || 0) + 1);
  const page = await (quiet ? api("GET", path).catch(() => null) : attempt(() => api("GET", path)))
    .finally(() => { list.loading = false; });
  if (!page || ticket !== list.ticket) return;
  const fingerprint = page.items.map((r) => `${r.id}:${r.version}`).join(",");
  if (quiet && list.dataset.fingerprint === fingerprint) return;
  list.dataset.fingerprint = fingerprint;
  list.items = page.items;
  list.next = page.next_cursor || null;
  drawList(list, detail);
}

/** The next page of the same search, after what is shown; a second click while it loads
 * does nothing. */
async function moreRequests(list, detail) {
  if (list.loading || !list.next) return;
  const query = new URLSearchParams(list.dataset.query || "");
  query.set("limit", String(PAGE));
  query.set("cursor", list.next);
  list.loading = true;
  const ticket = (list.ticket = (list.ticket || 0) + 1);
  const page = await attempt(() => api("GET", `/v1/clearance-requests?${query}`))
    .finally(() => { list.loading = false; });
  if (!page || ticket !== list.ticket) return;
  list.items = [...list.items, ...page.items];
  list.next = page.next_cursor || null;
  list.dataset.fingerprint = list.items.map((r) => `${r.id}:${r.version}`).join(",");
  drawList(list, detail);
}

function drawList(list, detail) {
  const order = ($("#q-order") || { value: "newest" }).value;
  const items = [...(list.items || [])].sort(REQUEST_ORDER[order]);
  fill(list, items.length
    ? el("table", { class: "stack", "data-testid": "requests" },
      el("thead", {}, el("tr", {}, ["list.submitted", "list.traveller", "list.first_leg", "list.status", ""].map(header))),
      el("tbody", {}, items.map((r) => el("tr", {},
        el("td", {}, when(r.submitted_at)),
        el("td", {}, r.traveller.name),
        el("td", {}, `${r.legs[0].area} ${day(r.legs[0].arrival)}`),
        el("td", {}, statusBadge(r.status)),
        el("td", {}, el("button", {
          type: "button", class: "link", "aria-label": t("list.open_label", { title: requestTitle(r) }),
          onclick: () => openRequest(r.id, detail, list),
        }, t("list.open")))))))
    : el("p", { "data-testid": "no-requests" }, t(list.dataset.query ? "list.no_match" : "list.empty")),
  items.length ? el("p", { class: "hint", "data-testid": "list-count" },
    t(list.next ? "list.shown_more" : "list.shown", { count: t("n.requests", { n: items.length }) })) : null,
  list.next ? el("button", { type: "button", class: "secondary", "data-testid": "more", onclick: () => moreRequests(list, detail) },
    t("list.more", { n: PAGE })) : null);
}

async function openRequest(id, detail, list, { quiet = false } = {}) {
  const get = (path) => (quiet ? api("GET", path).catch(() => null) : attempt(() => api("GET", path)));
  const record = await get(`/v1/clearance-requests/${id}`);
  if (!record) return;
  // A quiet refresh redraws only what changed, so nothing moves under the reader.
  if (quiet && detail.dataset.id === id && detail.dataset.version === String(record.version)) return;
  // Another request, or this one changed: what the last message said is about something else.
  say("");
  const trail = await get(`/v1/clearance-requests/${id}/audit`);
  detail.dataset.id = id;
  detail.dataset.version = String(record.version);
  const actions = el("div", { class: "actions" });
  if (PENDING.includes(record.status)) {
    actions.append(el("button", {
      type: "button", class: "secondary", "data-testid": "withdraw",
      onclick: async () => {
        if (!window.confirm(t("request.withdraw_confirm", { title: requestTitle(record) }))) return;
        if (await attempt(() => api("POST", `/v1/clearance-requests/${id}/withdraw`, {}))) {
          await openRequest(id, detail, list);
          await refreshList(list, detail);
          say(t("request.withdrawn"), "ok");
        }
      },
    }, t("request.withdraw")));
  }
  if (["returned", "held"].includes(record.status)) {
    actions.append(el("button", {
      type: "button", class: "secondary", "data-testid": "amend",
      onclick: async () => {
        await requestForm(requestFormEl, record, detail, list);
        requestFormEl.scrollIntoView({ block: "start" });
        $("#f-purpose").focus();
      },
    }, t("request.amend")));
  }
  if (["cleared", "approved"].includes(record.status)) {
    actions.append(el("button", { type: "button", class: "secondary", "data-testid": "print", onclick: () => window.print() }, t("request.print")));
  }
  // What a printed clearance needs beyond the screen: the full reference and where to check
  // it: the public link the service signed, or (without a key) the page, signed in.
  const verify = `${location.origin}${record.verification_url || `/#request=${record.id}`}`;
  detail.replaceChildren(
    el("h2", { "data-testid": "request-title" }, requestTitle(record)),
    el("p", { class: "print-only", "data-testid": "print-reference" },
      t("request.print_reference", {
        status: statusWord(record.status).toLowerCase(), name: record.traveller.name, id: record.traveller.id,
        org: record.traveller.org, purpose: record.purpose, ref: record.id, when: when(new Date().toISOString()),
      }),
      t(record.verification_url ? "request.print_verify" : "request.print_unverifiable"),
      el("a", { href: verify }, verify), "."),
    decisionCard(record),
    // replaceChildren would print a null as the text "null".
    briefingCard(record, async () => {
      await openRequest(id, detail, list);
      await refreshList(list, detail);
    }) || "",
    actions,
    el("h3", {}, t("request.timeline")),
    el("ol", { class: "timeline", "data-testid": "timeline" }, (trail ? trail.items : []).map(timelineEntry)));
  if (!quiet) detail.scrollIntoView({ block: "nearest" });
}

/** The security briefings the clearance relies on; the traveller acknowledges them here. */
function briefingCard(record, reopen) {
  const briefings = record.decision.briefings || [];
  if (!briefings.length) return null;
  const acknowledged = record.decision.acknowledged || [];
  const waiting = record.status === "cleared_pending_acknowledgement";
  const mine = session && session.roles.includes("traveller") && session.sub === record.traveller.id;
  return el("section", { class: "card", "data-testid": "briefings", "aria-labelledby": "briefings-title" },
    el("h3", { id: "briefings-title" }, t("briefing.title")),
    briefings.map((b) => {
      const done = acknowledged.find((a) => a.sra.id === b.sra.id);
      return el("div", { class: "briefing", "data-sra": b.sra.id },
        el("h4", {}, t("briefing.for", { area: b.area, version: b.sra.version })),
        b.briefing.text ? el("p", { class: "briefing-text" }, b.briefing.text) : null,
        b.briefing.url ? el("p", {}, el("a", { href: b.briefing.url, target: "_blank", rel: "noopener noreferrer" }, t("briefing.link"))) : null,
        el("p", { class: "hint" }, done ? t("briefing.acknowledged", { when: when(done.at), by: done.by }) : t("briefing.not_yet")));
    }),
    waiting && mine ? el("div", { class: "actions" }, el("button", {
      type: "button", "data-testid": "acknowledge",
      onclick: async (event) => {
        event.target.disabled = true;
        const done = await attempt(() => api("POST", `/v1/clearance-requests/${record.id}/acknowledgement`));
        event.target.disabled = false;
        if (!done) return;
        await reopen();
        say(t("briefing.done"), "ok");
      },
    }, t("briefing.acknowledge"))) : null,
    waiting && !mine ? el("p", {}, t("briefing.traveller_only")) : null);
}

const APPROVER_ACTIONS = ["claimed", "released", "approved", "rejected", "returned"];

/** One audit entry: what happened, by whom, and the status it led to when it changed. */
function timelineEntry(e) {
  const moved = e.from !== e.to;
  const outcome = moved ? [t("punct.colon"), statusBadge(e.to)]
    : e.action === "approved" && e.to === "escalated" ? t("timeline.next_stage") : "";
  return el("li", {},
    el("time", { datetime: e.at }, when(e.at)), " ",
    el("strong", {}, t(`action.${e.action}`)), ` ${t("timeline.by", { actor: e.actor })}`,
    // The stage is the approver's; a submission or amendment only led the request to it.
    e.stage && APPROVER_ACTIONS.includes(e.action) ? ` (${stageName(e.stage)})` : "", outcome,
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
  const picker = el("select", { id: "stage" }, own.map((s) => el("option", { value: s }, t(`queue.stage.${s}`))));
  const live = el("span", { class: "live", "data-testid": "live" }, t("queue.connecting"));
  const list = el("div", { id: "queue" });
  const item = el("div", { id: "item" });
  view.append(
    el("h2", {}, t("queue.title")),
    el("div", { class: "toolbar" }, el("label", { for: "stage" }, t("queue.stage")), picker, live),
    el("div", { class: "toolbar", role: "search", "aria-label": t("queue.filter_label") },
      el("label", { for: "queue-filter" }, t("queue.filter")),
      el("input", { id: "queue-filter", type: "search", maxlength: 100, oninput: () => loadQueue(picker.value, list, item) }),
      el("label", { for: "queue-order" }, t("queue.order")),
      el("select", { id: "queue-order", onchange: () => loadQueue(picker.value, list, item) },
        Object.keys(QUEUE_ORDER).map((o) => el("option", { value: o }, t(`queue.order.${o}`))))),
    list, item);
  const load = () => loadQueue(picker.value, list, item);
  // A change that arrives live is announced to screen readers, not only drawn.
  const reload = async () => {
    const count = await load();
    if (count != null) $("#announce").textContent = t("queue.updated", { count: t("n.requests", { n: count }), stage: stageName(picker.value) });
  };
  const stream = () => `/v1/escalations/stream?stage=${encodeURIComponent(picker.value)}`;
  picker.onchange = () => { load(); watch(stream(), live, reload); };
  await load();
  watch(stream(), live, reload);
}

async function loadQueue(stage, list, item) {
  // A stage's queue is short (only Very High risk waits in it): the page loads it whole (up
  // to 2,000) and filters and orders it here.
  const items = await attempt(() => everything(`/v1/escalations?stage=${stage}`));
  if (!items) return null;
  const page = { items };
  const words = ($("#queue-filter") ? $("#queue-filter").value : "").trim().toLowerCase();
  const matches = (q) => !words || [q.request.traveller.name, q.request.traveller.id, q.request.traveller.org,
    ...q.request.legs.map((l) => l.area)].join(" ").toLowerCase().includes(words);
  const order = QUEUE_ORDER[($("#queue-order") || { value: "deadline" }).value];
  page.items = page.items.filter(matches).sort(order);
  list.replaceChildren(page.items.length
    ? el("ul", { class: "queue", "data-testid": "queue" }, queueEntries(page.items).map((q) => q.team ? teamEntry(q, stage, list, item) : el("li", { class: q.urgent ? "urgent" : "" },
      el("button", { type: "button", class: "item", "data-testid": "queue-item", onclick: () => openItem(q.request.id, stage, list, item) },
        q.urgent ? el("span", { class: "flag" }, t("queue.urgent")) : null,
        q.overdue ? el("span", { class: "flag", "data-testid": "overdue" }, t("queue.overdue")) : null,
        q.request.decision.late ? el("span", { class: "flag", "data-testid": "late" }, t("queue.late")) : null,
        el("strong", {}, q.request.traveller.name), ` (${q.request.traveller.org}) `,
        q.request.legs.map((l) => `${l.area} ${day(l.arrival)}`).join(" → "),
        el("small", {}, t("queue.waiting", { time: t("n.minutes", { n: Math.round(q.seconds_in_queue / 60) }) })),
        q.due_at ? el("small", {}, t("queue.due", { when: when(q.due_at) })) : null,
        q.claim ? el("small", { class: "claimed" }, t("queue.claimed_by", { holder: q.claim.holder })) : null))))
    : el("p", { "data-testid": "queue-empty" }, t("queue.empty")));
  return page.items.length;
}

/** The queue's entries in order: a team's members waiting at the stage make one entry, where
 * its first member stands; a request of its own is its own entry. */
function queueEntries(items) {
  const entries = [];
  const teams = new Map();
  for (const q of items) {
    const id = q.request.team_id;
    if (!id) { entries.push(q); continue; }
    if (!teams.has(id)) {
      const entry = { team: id, members: [] };
      teams.set(id, entry);
      entries.push(entry);
    }
    teams.get(id).members.push(q);
  }
  return entries;
}

/** One queue entry for a team: its members' names, its itinerary, the longest wait. */
function teamEntry(entry, stage, list, item) {
  const first = entry.members[0];
  const longest = Math.max(...entry.members.map((q) => q.seconds_in_queue));
  return el("li", { class: entry.members.some((q) => q.urgent) ? "urgent" : "" },
    el("button", { type: "button", class: "item", "data-testid": "queue-team", onclick: () => openTeam(entry.team, stage, list, item) },
      el("span", { class: "flag" }, t("queue.team", { count: t("n.travellers", { n: entry.members.length }) })),
      entry.members.some((q) => q.overdue) ? el("span", { class: "flag" }, t("queue.overdue")) : null,
      el("strong", {}, entry.members.map((q) => q.request.traveller.name).join(", ")), ` (${first.request.traveller.org}) `,
      first.request.legs.map((l) => `${l.area} ${day(l.arrival)}`).join(" → "),
      el("small", {}, t("queue.waiting", { time: t("n.minutes", { n: Math.round(longest / 60) }) }))));
}

/** Shows a team waiting at `stage`: one decision for its members, with exceptions. */
async function openTeam(id, stage, list, item) {
  const team = await attempt(() => api("GET", `/v1/teams/${id}`));
  if (!team) return;
  const waiting = team.members.filter((m) => m.status === "escalated" && m.approval && m.approval.stage === stage);
  if (!waiting.length) {
    item.replaceChildren();
    return;
  }
  const first = waiting[0];
  const comment = el("textarea", { id: "team-comment", rows: 3, maxlength: 2000 });
  const rows = waiting.map((m) => {
    const name = m.traveller.name;
    const choice = el("select", { "data-testid": "exception-decision", "aria-label": t("queue.team.decision_for", { name }) },
      ["team", "approve", "reject", "return"].map((v) => el("option", { value: v }, t(`queue.team.${v}`))));
    const why = el("input", { type: "text", maxlength: 2000, "data-testid": "exception-comment", "aria-label": t("queue.team.why_for", { name }) });
    return { member: m, choice, why, row: el("tr", { "data-testid": "team-member" },
      el("td", {}, name), el("td", {}, headline(m)), el("td", {}, choice), el("td", {}, why)) };
  });
  const decide = (decision) => async () => {
    if (decision === "reject" && !window.confirm(t("queue.team.reject_confirm", { count: t("n.travellers", { n: waiting.length }) }))) return;
    const exceptions = rows.filter((r) => r.choice.value !== "team")
      .map((r) => ({ request_id: r.member.id, decision: r.choice.value, comment: r.why.value }));
    const decided = await attempt(() => api("POST", `/v1/teams/${id}/decision`, { decision, comment: comment.value, stage, exceptions, members: waiting.map((m) => m.id) }));
    if (!decided) return;
    await loadQueue(stage, list, item);
    item.replaceChildren();
    say(t("queue.team.recorded", { count: t("n.travellers", { n: decided.members.length }) }), "ok");
  };
  fill(item,
    el("h2", { "data-testid": "team-title" }, t("queue.team.title", { count: t("n.travellers", { n: waiting.length }), area: first.legs[0].area, date: day(first.legs[0].arrival) })),
    el("p", {}, first.purpose),
    el("p", {}, t("queue.msra", { pc: first.programme_criticality, reference: first.mission_sra_reference || t("page.none") })),
    first.approval ? el("p", {}, t("queue.chain", { chain: first.approval.chain.map(stageName).join(" → ") })) : null,
    el("table", { class: "team", "data-testid": "team-members" },
      el("caption", {}, t("queue.team.caption")),
      el("thead", {}, el("tr", {}, ["traveller", "decision", "exception", "why"].map((h) => el("th", { scope: "col" }, t(`queue.team.col.${h}`))))),
      el("tbody", {}, rows.map((r) => r.row))),
    el("label", { for: "team-comment" }, t("queue.comment")), comment,
    el("div", { class: "actions" },
      el("button", { type: "button", "data-testid": "team-approve", onclick: decide("approve") }, t("queue.team.approve")),
      el("button", { type: "button", class: "danger", "data-testid": "team-reject", onclick: decide("reject") }, t("queue.team.reject")),
      el("button", { type: "button", class: "secondary", "data-testid": "team-return", onclick: decide("return") }, t("queue.team.return"))));
}

/** The queue's orders: earliest deadline (the stage's response time, or travel if sooner),
 * the API's (soonest travel, then oldest submission), or another. */
const QUEUE_ORDER = {
  deadline: (a, b) => Date.parse(a.deadline) - Date.parse(b.deadline),
  travel: () => 0,
  waiting: (a, b) => b.seconds_in_queue - a.seconds_in_queue,
  traveller: (a, b) => a.request.traveller.name.localeCompare(b.request.traveller.name, locale),
};

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
    if (decision === "reject" && !window.confirm(t("queue.reject_confirm", { title: requestTitle(record) }))) return;
    await act("decision", { decision, comment: comment.value, stage }, t("queue.recorded", { decision: t(`verdict.${decision}`) }))();
  };
  fill(item,
    el("h2", {}, requestTitle(record)),
    el("p", {}, record.purpose),
    el("p", {}, t("queue.msra", { pc: record.programme_criticality, reference: record.mission_sra_reference || t("page.none") })),
    decisionCard(record, true),
    record.approval ? el("p", {}, t("queue.chain", { chain: record.approval.chain.map(stageName).join(" → ") })) : null,
    el("div", { class: "actions" },
      el("button", { type: "button", "data-testid": "claim", onclick: act("claim", {}, t("queue.claimed")) }, t("queue.claim")),
      el("button", { type: "button", class: "secondary", "data-testid": "release", onclick: act("release", {}, t("queue.released")) }, t("queue.release"))),
    el("label", { for: "comment" }, t("queue.comment")), comment,
    el("div", { class: "actions" },
      el("button", { type: "button", "data-testid": "approve", onclick: decide("approve") }, t("queue.approve")),
      el("button", { type: "button", class: "danger", "data-testid": "reject", onclick: decide("reject") }, t("queue.reject")),
      el("button", { type: "button", class: "secondary", "data-testid": "return", onclick: decide("return") }, t("queue.return"))));
  return true;
}

/** Server-sent events over fetch (EventSource cannot send the bearer token). */
function watch(url, indicator, reload) {
  if (stopWatching) stopWatching();
  const controller = new AbortController();
  stopWatching = () => controller.abort();
  // A burst of events (a travel unit's busy morning) makes one reload, not one each.
  let pending = null;
  const soon = () => {
    if (pending) return;
    pending = setTimeout(() => { pending = null; reload(); }, 300);
  };
  const connect = async () => {
    try {
      const response = await fetch(url, {
        headers: { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (!response.ok) throw new ApiError(response.status, null);
      indicator.textContent = t("queue.live");
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
          if (/^event: token_expired/m.test(frame)) return signOut(t("signin.ended"));
          if (/^event: /m.test(frame)) soon();
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    indicator.textContent = t("queue.reconnecting");
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
  const mapSlot = el("div");
  view.append(el("h2", {}, t(analyst ? "areas.locator" : "areas.title")), locatorSlot);
  view.append(el("h2", {}, t("map.title")), mapSlot);
  if (analyst) view.append(el("h2", {}, t("areas.title")));
  view.append(table);
  await renderAreas(table);
  redrawMap = async () => renderMap(mapSlot, await areas());
  await redrawMap();
  if (!analyst) return;
  const known = await areas();
  const codes = () => known.map((a) => el("option", { value: a.code }, `${a.code} ${a.name}`));
  if (has("security-analyst")) {
    const sra = el("form", { class: "card", "data-testid": "publish-form" },
      el("label", { for: "s-area" }, t("sra.area")), el("select", { id: "s-area" }, codes()),
      el("label", { for: "s-version" }, t("sra.version")), el("input", { id: "s-version", type: "number", min: 1, required: true, value: 1 }),
      el("label", { for: "s-from" }, t("sra.from")), el("input", { id: "s-from", type: "date", required: true, value: today() }),
      el("label", { for: "s-review" }, t("sra.review")), el("input", { id: "s-review", type: "date", required: true, value: today(180) }),
      el("label", { for: "s-level" }, t("sra.level")), el("input", { id: "s-level", type: "number", min: 1, max: 6, required: true, value: 3 }),
      el("label", { for: "s-risk" }, t("sra.risk")),
      el("select", { id: "s-risk" }, ["low", "medium", "high", "very_high", "unacceptable"].map((r) => el("option", { value: r }, riskWord(r)))),
      el("label", { for: "s-measures" }, t("sra.measures")), el("textarea", { id: "s-measures", rows: 3 }),
      el("label", { for: "s-briefing" }, t("sra.briefing")), el("textarea", { id: "s-briefing", rows: 3, maxlength: 5000, "aria-describedby": "s-briefing-hint" }),
      el("small", { id: "s-briefing-hint", class: "hint" }, t("sra.briefing_hint")),
      el("label", { for: "s-briefing-url" }, t("sra.briefing_url")), el("input", { id: "s-briefing-url", type: "url", maxlength: 2000 }),
      el("div", { class: "actions" },
        el("button", { type: "submit", value: "draft", "data-testid": "save-draft" }, t("sra.save_draft")),
        el("button", { type: "submit", value: "publish", class: "secondary" }, t("sra.publish_now"))));
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
      const briefing = { text: $("#s-briefing").value.trim() || null, url: $("#s-briefing-url").value.trim() || null };
      if (briefing.text || briefing.url) body.briefing = briefing;
      // Publishing at once changes the risk travellers are cleared against: ask first.
      if (!draft && !window.confirm(t("sra.publish_now_confirm", { version: body.version, area: body.area, risk: riskWord(body.residual_risk) }))) return;
      const done = await attempt(() => api("POST", draft ? "/v1/sras/drafts" : "/v1/sras", body));
      if (done) {
        say(draft ? t("sra.draft_saved", { version: done.version })
          : t("sra.published_now", { count: t("n.requests_rescreened", { n: done.rescreening.requests }) }), "ok");
        if (done.rescreening) followRescreening(done.rescreening, progress);
        await areasChanged(table);
        await nextVersion();
      }
    };
    view.append(el("h2", {}, t("sra.title")), sra, el("h3", {}, t("sra.versions")), progress, versions);
    // The chosen area's versions with the next step of each, and the next version number, so a
    // publication is not refused for a guess.
    const nextVersion = async () => {
      const listed = await attempt(() => api("GET", `/v1/sras?area=${encodeURIComponent($("#s-area").value)}`));
      if (!listed) return;
      $("#s-version").value = String(1 + Math.max(0, ...listed.items.map((s) => s.version)));
      // A new version starts from the one in force, not from defaults that would lower the risk.
      const latest = listed.items.filter((s) => s.status === "published").sort((a, b) => b.version - a.version)[0];
      if (latest) {
        $("#s-risk").value = latest.residual_risk;
        $("#s-level").value = String(latest.security_level);
        $("#s-measures").value = latest.mandatory_measures.join("\n");
      }
      const step = async (path, body, done, confirmText) => {
        if (confirmText && !window.confirm(confirmText)) return;
        const result = await attempt(() => api("POST", path, body));
        if (!result) return;
        say(done, "ok");
        if (result.rescreening) followRescreening(result.rescreening, progress);
        await areasChanged(table);
        await nextVersion();
      };
      // `path` is the sign-off's name: endorsement (by the SMT) or approval (by the DO).
      const signoff = (sra, path) => {
        const what = t(`sra.${path}`);
        const by = el("input", { "aria-label": t("sra.signed_by", { what }), placeholder: t("sra.signed_by_placeholder"), maxlength: 200 });
        const on = el("input", { "aria-label": t("sra.signed_on", { what }), type: "date", value: today() });
        return el("span", { class: "inline" }, by, on,
          el("button", {
            type: "button", "data-testid": `record-${path}`,
            onclick: () => step(`/v1/sras/${sra.id}/${path}`, { by: by.value.trim(), on: on.value }, t(`sra.recorded.${path}`, { version: sra.version })),
          }, t(`sra.record.${path}`)));
      };
      const next = (sra) => {
        if (sra.status === "draft") return signoff(sra, "endorsement");
        if (sra.status === "endorsed" && !sra.approval) return signoff(sra, "approval");
        if (sra.status === "endorsed") {
          return el("button", { type: "button", "data-testid": "publish", onclick: () => step(`/v1/sras/${sra.id}/publish`, undefined, t("sra.published", { version: sra.version })) }, t("sra.publish"));
        }
        if (sra.status === "published") {
          return el("button", {
            type: "button", class: "danger", "data-testid": "withdraw-sra",
            onclick: () => step(`/v1/sras/${sra.id}/withdraw`, undefined, t("sra.withdrawn", { version: sra.version }),
              t("sra.withdraw_confirm", { version: sra.version, area: sra.area })),
          }, t("sra.withdraw"));
        }
        return null;
      };
      versions.replaceChildren(listed.items.length
        ? el("table", { class: "stack" },
          el("thead", {}, el("tr", {}, ["sra.col.version", "sra.col.status", "sra.col.risk", "sra.col.from", "sra.col.signed", ""].map(header))),
          el("tbody", {}, listed.items.map((s) => el("tr", {},
            el("td", {}, `v${s.version}`), el("td", {}, t(`sra_status.${s.status}`)), el("td", {}, riskBadge(s.residual_risk)),
            el("td", {}, day(s.effective_from)),
            el("td", {}, [s.endorsement && t("sra.smt", { by: s.endorsement.by, on: day(s.endorsement.on) }),
              s.approval && t("sra.do", { by: s.approval.by, on: day(s.approval.on) })].filter(Boolean).join(t("punct.semicolon")) || t("sra.not_yet")),
            el("td", {}, next(s))))))
        : el("p", {}, t("sra.none")));
    };
    $("#s-area").onchange = nextVersion;
    await nextVersion();
  }
  const locator = el("form", { class: "card", "data-testid": "locator-form" },
    el("label", { for: "l-area" }, t("locator.area")), el("select", { id: "l-area" }, codes()),
    el("label", { for: "l-on" }, t("locator.date")), el("input", { id: "l-on", type: "date", required: true, value: today() }),
    el("div", { class: "actions" },
      el("button", { type: "submit" }, t("locator.submit")),
      el("button", { type: "button", class: "secondary", id: "l-csv" }, t("locator.csv"))),
    el("div", { id: "l-result" }));
  const query = () => `/v1/areas/${$("#l-area").value}/personnel?on=${$("#l-on").value}`;
  locator.onsubmit = async (event) => {
    event.preventDefault();
    const found = await attempt(() => api("GET", query()));
    if (!found) return;
    fill($("#l-result"), el("p", { "data-testid": "locator-count" }, t("locator.count", { n: found.count, date: day(found.on) })),
      found.count ? el("table", {}, el("tbody", {}, found.items.map((p) => el("tr", {},
        el("td", {}, p.traveller_name), el("td", {}, p.org),
        el("td", {}, t("locator.stay", { arrival: day(p.arrival), departure: day(p.departure) })), el("td", {}, statusWord(p.status)))))) : null);
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

// ---- Map ------------------------------------------------------------------------------------

let world = null;
/** The base layer, /map/world.svg (Natural Earth land and borders, in the binary), parsed once;
 * its paths are copied into the page so their strokes keep one pixel at any zoom. */
async function worldPaths() {
  if (!world) {
    const text = await (await fetch("/map/world.svg")).text();
    world = new DOMParser().parseFromString(text, "image/svg+xml");
  }
  return [...world.querySelectorAll("path")].map((path) => document.importNode(path, true));
}

/** The part of the world the placed areas need, with a margin, as [west, north, width,
 * height] in degrees, 2:1 like the frame (plate carrée: x = longitude, y = -latitude). */
function mapFrame(points) {
  if (!points.length) return [-180, -90, 360, 180];
  const lons = points.map((p) => p.longitude);
  const lats = points.map((p) => p.latitude);
  const margin = 8;
  let width = Math.max(...lons) - Math.min(...lons) + 2 * margin;
  let height = Math.max(...lats) - Math.min(...lats) + 2 * margin;
  width = Math.min(360, Math.max(width, 2 * height, 40));
  height = width / 2;
  const centre = [(Math.max(...lons) + Math.min(...lons)) / 2, -(Math.max(...lats) + Math.min(...lats)) / 2];
  const west = Math.min(180 - width, Math.max(-180, centre[0] - width / 2));
  const north = Math.min(90 - height, Math.max(-90, centre[1] - height / 2));
  return [west, north, width, height];
}

/** Puts each dot's label right, left, below or above it, the first place that covers no
 * other dot or label (greedy, west to east); a label with no free place is left out (the
 * dot's name, its tooltip and the table below still say it). */
function placeLabels(frame) {
  const markers = [...frame.querySelectorAll(".marker")];
  // Percentages are of the padding box: clientWidth and clientHeight.
  const box = { width: frame.clientWidth, height: frame.clientHeight };
  const at = (m) => [parseFloat(m.style.left) / 100 * box.width, parseFloat(m.style.top) / 100 * box.height];
  const dots = markers.map((m) => { const [x, y] = at(m); return [x - 9, y - 9, 18, 18]; });
  const taken = [...dots];
  // With a pixel to spare all round, so rounding never lets two labels touch.
  const overlaps = ([x, y, w, h]) => x < 0 || y < 0 || x + w > box.width || y + h > box.height
    || taken.some(([a, b, c, d]) => x - 1 < a + c && a < x + w + 1 && y - 1 < b + d && b < y + h + 1);
  markers.sort((a, b) => at(a)[0] - at(b)[0]);
  for (const marker of markers) {
    const label = marker.querySelector(".code");
    marker.classList.remove("right", "left", "below", "above", "unlabelled");
    const [x, y] = at(marker);
    const { width: w, height: h } = label.getBoundingClientRect();
    const places = {
      right: [x + 11, y - h / 2, w, h], left: [x - 11 - w, y - h / 2, w, h],
      below: [x - w / 2, y + 11, w, h], above: [x - w / 2, y - 11 - h, w, h],
    };
    const free = Object.keys(places).find((side) => !overlaps(places[side]));
    marker.classList.add(free || "unlabelled");
    if (free) taken.push(places[free]);
  }
}

const areaRisk = (a) => (a.suspension ? "suspended" : a.in_force ? a.in_force.risk : "none");

/** Areas as dots coloured by the risk in force today; analysts pick a day and see how many
 * people are in each area then (one read: /v1/headcounts). Each dot is a button that says
 * what it shows; the legend and the table carry the same facts in text. */
async function renderMap(slot, known) {
  const analyst = has("security-analyst", "admin");
  const placed = known.filter((a) => a.location);
  const [west, north, width, height] = mapFrame(placed.map((a) => a.location));
  const frame = el("div", { class: "map-frame" });
  const base = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  base.setAttribute("viewBox", `${west} ${north} ${width} ${height}`);
  base.setAttribute("preserveAspectRatio", "none");
  base.setAttribute("aria-hidden", "true");
  base.append(...await worldPaths());
  frame.append(base);
  const detail = el("p", { class: "map-detail", "data-testid": "map-detail", "aria-live": "polite" });
  const people = el("div", { "data-testid": "map-people" });
  const on = el("input", { id: "m-on", type: "date", value: today(), required: true });
  // The answer to the latest date asked only: an earlier one arriving late is dropped.
  let asked = 0;
  const draw = async () => {
    const mine = ++asked;
    const counts = analyst ? await attempt(() => api("GET", `/v1/headcounts?on=${on.value || today()}`)) : null;
    if (mine !== asked) return;
    if (analyst && !counts) people.replaceChildren();
    const count = (code) => (counts ? (counts.items.find((h) => h.area === code) || { people: 0 }).people : null);
    for (const old of frame.querySelectorAll(".marker")) old.remove();
    for (const a of placed) {
      const risk = areaRisk(a);
      const n = count(a.code);
      const label = t("map.marker", { area: `${a.code} ${a.name}`, risk: riskWord(risk) })
        + (n == null ? "" : `${t("punct.semicolon")}${t("map.people", { n, date: day(counts.on) })}`);
      // The name starts with what the marker shows (WCAG 2.5.3: a voice user says what they see).
      const shown = n ? `${a.code} · ${n}` : a.code;
      const marker = el("button", {
        type: "button", class: `marker ${risk}`, "data-testid": "map-area", "data-area": a.code, "data-risk": risk,
        "aria-label": n ? `${shown}${t("punct.colon")}${label}` : label, title: label,
        onclick: () => { detail.textContent = `${label} (${a.country}).`; },
      }, el("span", { class: "dot" }), el("span", { class: "code" }, shown));
      // Placed in percent of the frame, so it stays on its spot at any width (CSSOM, which the
      // page's content security policy allows, unlike style attributes).
      marker.style.left = `${((a.location.longitude - west) / width) * 100}%`;
      marker.style.top = `${((-a.location.latitude - north) / height) * 100}%`;
      frame.append(marker);
    }
    placeLabels(frame);
    if (!counts) return;
    const present = known.map((a) => [a, count(a.code)]).filter(([, n]) => n > 0);
    people.replaceChildren(present.length
      ? el("table", { class: "stack" },
        el("caption", {}, t("map.people_title", { date: day(counts.on) })),
        el("thead", {}, el("tr", {}, ["home.people_area", "home.people_count"].map(header))),
        el("tbody", {}, present.map(([a, n]) => el("tr", {}, el("td", {}, `${a.code} ${a.name}`), el("td", {}, String(n))))))
      : el("p", {}, t("map.nobody", { date: day(counts.on) })));
  };
  on.onchange = draw;
  const scroller = el("div", { class: "map-scroll" }, frame);
  // Labels that fit at one width may collide at another. A redrawn map leaves the old one.
  if (slot.resizing) slot.resizing.disconnect();
  slot.resizing = new ResizeObserver(() => placeLabels(frame));
  slot.resizing.observe(frame);
  const legend = el("ul", { class: "legend", "aria-label": t("map.legend") },
    [...RISK_ORDER.slice().reverse(), "suspended", "none"].map((r) => el("li", {},
      el("span", { class: `swatch ${r}` }), `${riskWord(r)} (${placed.filter((a) => areaRisk(a) === r).length})`)));
  const unplaced = known.filter((a) => !a.location);
  slot.replaceChildren(el("figure", { class: "card map", "data-testid": "map" },
    analyst ? el("div", { class: "toolbar" }, el("label", { for: "m-on" }, t("map.people_on")), on) : null,
    scroller,
    el("figcaption", {}, legend,
      unplaced.length ? el("p", { class: "hint", "data-testid": "map-unplaced" },
        t("map.unplaced", { areas: unplaced.map((a) => a.code).join(", ") })) : null),
    detail, people));
  await draw();
  // Where the map is wider than the screen, it opens on the middle of the areas (by
  // longitude: half are east of it), not on its western edge.
  const middle = placed.map((a) => a.location.longitude).sort((a, b) => a - b)[Math.floor(placed.length / 2)];
  if (middle != null) scroller.scrollLeft = ((middle - west) / width) * frame.clientWidth - scroller.clientWidth / 2;
}

const RISK_ORDER = ["unacceptable", "very_high", "high", "medium", "low"];

// The areas view's map, to redraw when an area's risk changed (not on every filter key).
let redrawMap = null;

/** After a suspension, a lift or an SRA step: the table and the map as they are now. */
async function areasChanged(table) {
  areasCache = null;
  await renderAreas(table);
  if (redrawMap) await redrawMap();
}
const riskRank = (a) => (a.suspension ? -1 : a.in_force ? RISK_ORDER.indexOf(a.in_force.risk) : RISK_ORDER.length);

/** The areas table with its own filter (code, name or country; risk) and order. Areas are
 * few (one per duty station), so the page filters what it already holds. */
async function renderAreas(table) {
  const all = await attempt(areas);
  if (!all) return;
  if (!table.querySelector('[data-testid="area-filter"]')) {
    const text = el("input", { id: "a-text", type: "search", maxlength: 100 });
    const risk = el("select", { id: "a-risk" }, el("option", { value: "" }, t("areas.any")),
      [...RISK_ORDER, "suspended", "none"].map((r) => el("option", { value: r }, riskWord(r))));
    const order = el("select", { id: "a-order" },
      ["code", "risk", "review"].map((v) => el("option", { value: v }, t(`areas.order.${v}`))));
    const filter = el("div", { class: "toolbar", role: "search", "aria-label": t("areas.filter_label"), "data-testid": "area-filter" },
      el("div", { class: "field" }, el("label", { for: "a-text" }, t("areas.filter_text")), text),
      el("div", { class: "field" }, el("label", { for: "a-risk" }, t("areas.risk")), risk),
      el("div", { class: "field" }, el("label", { for: "a-order" }, t("areas.order")), order));
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
    el("thead", {}, el("tr", {}, ["areas.col.area", "areas.col.risk", "areas.col.level", "areas.col.sra", ""].map(header))),
    el("tbody", {}, known.map((a) => el("tr", { class: a.review_overdue ? "overdue" : "" },
      el("th", { scope: "row" }, `${a.code} `, el("small", {}, `${a.name}, ${a.country}`)),
      el("td", {}, a.suspension
        ? el("span", { class: "risk suspended" }, t("areas.suspended", { reason: t(`suspension.${a.suspension.reason}`) }))
        : riskBadge(a.in_force && a.in_force.risk)),
      el("td", {}, a.in_force ? t("areas.level", { level: a.in_force.security_level }) : ""),
      el("td", {}, a.review_overdue ? el("strong", {}, t("areas.overdue"))
        : a.in_force ? t("areas.in_force", { version: a.in_force.sra.version, date: day(a.in_force.review_due) }) : t("areas.no_sra")),
      el("td", {}, analyst ? suspensionControl(a, table) : null)))))
    : el("p", { "data-testid": "no-areas" }, t("areas.no_match")));
}

// ---- Incidents -------------------------------------------------------------------------

/** A traveller's open asks, first on their overview: are you safe? */
async function checkInsHome() {
  const asks = (await api("GET", "/v1/check-ins")).items;
  if (!asks.length) return null;
  return el("div", {}, asks.map(({ incident, entry }) => {
    const slot = el("section", { class: "card alert", "aria-labelledby": `ask-${entry.id}`, "data-testid": "check-in" });
    const draw = (current) => {
      const message = el("textarea", { id: `ask-msg-${entry.id}`, rows: 2, maxlength: 1000 });
      const callback = el("input", { id: `ask-cb-${entry.id}`, type: "tel", autocomplete: "tel", maxlength: 32 });
      const form = el("form", { class: "check-in-form" },
        el("label", { for: message.id }, t("checkin.message")), message,
        el("label", { for: callback.id }, t("checkin.callback")), callback,
        el("div", { class: "actions" },
          el("button", { type: "submit", value: "safe", "data-testid": "answer-safe" }, t("checkin.safe")),
          el("button", { type: "submit", value: "needs_assistance", class: "danger", "data-testid": "answer-help" }, t("checkin.help"))));
      form.onsubmit = async (event) => {
        event.preventDefault();
        const state = event.submitter ? event.submitter.value : "safe";
        const body = { state, message: message.value || undefined, callback: callback.value || undefined };
        const done = await attempt(() => api("POST", `/v1/incidents/${incident.id}/people/${entry.id}/answer`, body), t("checkin.thanks_short"));
        if (done) draw(done);
      };
      fill(slot,
        el("h3", { id: `ask-${entry.id}` }, t("checkin.title")),
        el("p", {}, `${incident.description} (${incident.areas.join(", ")}, ${when(incident.started_at)})`),
        current.state !== "no_answer"
          ? el("p", { role: "status", "data-testid": "check-in-answer" }, `${t("checkin.answered")} ${t(`checkin.state.${current.state}`)}`)
          : null,
        form);
    };
    draw(entry);
    return slot;
  }));
}

/** The incidents: an analyst opens one; analysts, admins and travel units follow its board. */
async function incidentsView(view) {
  view.append(el("h2", {}, t("incidents.title")));
  const list = el("div", { "data-testid": "incident-list" });
  const board = el("section", { id: "incident-board", "data-testid": "incident-board", "aria-labelledby": "board-title" });
  if (has("security-analyst")) view.append(await openIncidentForm(list, board));
  view.append(el("h3", {}, t("incidents.list")), list, board);
  await listIncidents(list, board);
}

async function openIncidentForm(list, board) {
  const known = await areas();
  const now = new Date(Date.now() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const form = el("form", { class: "card", "data-testid": "incident-form" },
    el("fieldset", {}, el("legend", {}, t("incidents.areas")),
      el("div", { class: "checks" }, known.map((a) => el("label", {},
        el("input", { type: "checkbox", name: "incident-area", value: a.code }), ` ${a.code} `, el("small", {}, a.name))))),
    el("label", { for: "i-started" }, t("incidents.started")),
    el("input", { id: "i-started", type: "datetime-local", required: true, value: now }),
    el("label", { for: "i-description" }, t("incidents.description")),
    el("textarea", { id: "i-description", rows: 2, required: true, maxlength: 2000 }),
    el("div", { class: "actions" }, el("button", { type: "submit", "data-testid": "open-incident" }, t("incidents.open"))));
  form.onsubmit = async (event) => {
    event.preventDefault();
    const chosen = [...form.querySelectorAll('input[name="incident-area"]:checked')].map((c) => c.value);
    if (!chosen.length) {
      say(t("incidents.pick_area"), "error");
      return;
    }
    const body = { areas: chosen, started_at: new Date($("#i-started").value).toISOString(), description: $("#i-description").value };
    if (!window.confirm(t("incidents.open_confirm", { areas: chosen.join(", ") }))) return;
    const opened = await attempt(() => api("POST", "/v1/incidents", body));
    if (!opened) return;
    say(t("incidents.opened", { n: opened.people }), "ok");
    form.reset();
    $("#i-started").value = now;
    await listIncidents(list, board, opened.incident.id);
  };
  return form;
}

async function listIncidents(list, board, open = null) {
  const found = await attempt(() => api("GET", "/v1/incidents"));
  if (!found) return;
  if (!found.items.length) {
    fill(list, el("p", { "data-testid": "no-incidents" }, t("incidents.none")));
    return;
  }
  fill(list, el("table", { class: "stack" },
    el("thead", {}, el("tr", {}, ["incidents.col.started", "incidents.col.areas", "incidents.col.description", "incidents.col.status", ""].map(header))),
    el("tbody", {}, found.items.map((i) => el("tr", {},
      el("td", {}, when(i.started_at)), el("td", {}, i.areas.join(", ")), el("th", { scope: "row" }, i.description),
      el("td", {}, t(`incidents.status.${i.status}`)),
      el("td", {}, el("button", { type: "button", class: "secondary", "data-testid": `board-${i.id}`,
        onclick: () => showBoard(i.id, board, list) }, t("incidents.show"))))))));
  const first = open || (found.items.find((i) => i.status === "open") || {}).id;
  if (first) await showBoard(first, board, list);
}

/** The board of one incident, redrawn every few seconds while it is open and nobody is
 * typing an answer in it (a redraw must never take a form from under a person). */
async function showBoard(id, board, list) {
  if (stopWatching) stopWatching();
  const draw = async () => {
    if (board.querySelector("form.answer-form")) return;
    const [view, missing, help] = await Promise.all([
      api("GET", `/v1/incidents/${id}`),
      api("GET", `/v1/incidents/${id}/people?state=no_answer`),
      api("GET", `/v1/incidents/${id}/people?state=needs_assistance`),
    ]);
    const timeline = has("security-analyst", "admin") ? (await api("GET", `/v1/incidents/${id}/timeline`)).items : [];
    renderBoard(board, view, missing.items, help.items, timeline, () => draw(), list);
    return view.incident.status;
  };
  const status = await attempt(draw);
  if (status !== "open") return;
  const timer = setInterval(() => draw().catch(() => {}), 5000);
  stopWatching = () => clearInterval(timer);
}

function renderBoard(board, view, missing, help, timeline, redraw, list) {
  const { incident, totals, lines } = view;
  const open = incident.status === "open";
  const person = (e) => `${e.traveller_name || e.traveller_id} (${e.org})`
    + (e.dependants && e.dependants.length ? `, ${t("incidents.with_dependants", { n: e.dependants.length })}` : "");
  const csv = el("button", { type: "button", class: "secondary", "data-testid": "incident-csv" }, t("incidents.csv"));
  csv.onclick = async () => {
    const text = await attempt(() => api("GET", `/v1/incidents/${incident.id}/people`, undefined, "text/csv"));
    if (text == null) return;
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: `incident-${incident.id}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
  };
  const close = has("security-analyst") && open
    ? el("button", { type: "button", class: "danger", "data-testid": "close-incident", onclick: async () => {
      if (!window.confirm(t("incidents.close_confirm"))) return;
      if (await attempt(() => api("POST", `/v1/incidents/${incident.id}/close`, {}), t("incidents.closed_done"))) {
        await listIncidents(list, board, incident.id);
      }
    } }, t("incidents.close")) : null;
  const answerFor = (e, cell) => {
    const state = el("select", { id: `a-state-${e.id}` }, ["safe", "needs_assistance"].map((s) => el("option", { value: s }, t(`checkin.state.${s}`))));
    const how = el("select", { id: `a-how-${e.id}` }, ["phone", "message", "in_person", "other"].map((h) => el("option", { value: h }, t(`incidents.how.${h}`))));
    const message = el("input", { id: `a-msg-${e.id}`, maxlength: 1000 });
    const form = el("form", { class: "answer-form", "data-testid": "answer-form" },
      el("label", { for: state.id }, t("incidents.answer")), state,
      el("label", { for: how.id }, t("incidents.how")), how,
      el("label", { for: message.id }, t("checkin.message")), message,
      el("div", { class: "actions" },
        el("button", { type: "submit", "data-testid": "record-answer" }, t("incidents.record")),
        el("button", { type: "button", class: "secondary", onclick: () => { form.remove(); redraw(); } }, t("page.cancel"))));
    form.onsubmit = async (event) => {
      event.preventDefault();
      const body = { state: state.value, how: how.value, message: message.value || undefined };
      if (await attempt(() => api("POST", `/v1/incidents/${incident.id}/people/${e.id}/answer`, body), t("incidents.recorded", { name: person(e) }))) {
        form.remove();
        await redraw();
      }
    };
    fill(cell, form);
    state.focus();
  };
  fill(board,
    el("h3", { id: "board-title" }, incident.description),
    el("p", {}, t("incidents.summary", { areas: incident.areas.join(", "), since: when(incident.started_at), status: t(`incidents.status.${incident.status}`) })),
    el("div", { class: "figures", role: "status" },
      figure("incident-people", totals.people, counted("incidents.people", totals.people)),
      figure("incident-safe", totals.accounted_for, t("incidents.accounted_for")),
      figure("incident-help", totals.needs_assistance, t("incidents.needs_assistance")),
      figure("incident-missing", totals.no_answer, t("incidents.no_answer"))),
    el("div", { class: "actions" }, csv, close),
    lines.length ? el("table", { class: "stack", "data-testid": "board-lines" },
      el("caption", {}, t("incidents.by_area")),
      el("thead", {}, el("tr", {}, ["incidents.col.area", "incidents.col.org", "incidents.people_col", "incidents.accounted_for", "incidents.needs_assistance", "incidents.no_answer"].map(header))),
      el("tbody", {}, lines.map((l) => el("tr", {},
        el("th", { scope: "row" }, l.area), el("td", {}, l.org), el("td", {}, String(l.people)),
        el("td", {}, String(l.accounted_for)), el("td", {}, String(l.needs_assistance)), el("td", {}, String(l.no_answer)))))) : null,
    el("h4", {}, t("incidents.help_list", { n: help.length })),
    help.length ? el("table", { class: "stack", "data-testid": "help-list" },
      el("thead", {}, el("tr", {}, ["incidents.col.person", "incidents.col.area", "incidents.col.message", "incidents.col.callback", "incidents.col.answered"].map(header))),
      el("tbody", {}, help.map((e) => el("tr", {},
        el("th", { scope: "row" }, person(e)), el("td", {}, e.area), el("td", {}, e.message || ""),
        el("td", {}, e.callback ? el("a", { href: `tel:${e.callback.replace(/[^\d+]/g, "")}` }, e.callback) : ""),
        el("td", {}, e.answered_at ? `${when(e.answered_at)}, ${e.answered_by}` : ""))))) : null,
    el("h4", {}, t("incidents.missing_list", { n: missing.length })),
    missing.length ? el("table", { class: "stack", "data-testid": "missing-list" },
      el("thead", {}, el("tr", {}, ["incidents.col.person", "incidents.col.unit", "incidents.col.area", "incidents.col.presence", "incidents.col.asks", ""].map(header))),
      el("tbody", {}, missing.map((e) => {
        const cell = el("td", {});
        if (open && has("security-analyst", "travel-unit")) {
          cell.append(el("button", { type: "button", class: "secondary", "data-testid": `answer-for-${e.traveller_id}`, onclick: () => answerFor(e, cell) }, t("incidents.answer_for")));
        }
        return el("tr", {},
          el("th", { scope: "row" }, person(e)), el("td", {}, e.submitted_by), el("td", {}, e.area),
          el("td", {}, t(`incidents.presence.${e.presence}`)), el("td", {}, String(e.asks)), cell);
      }))) : null,
    timeline.length ? el("details", {}, el("summary", {}, t("incidents.timeline")),
      el("ol", { "data-testid": "incident-timeline" }, timeline.map((e) => el("li", {},
        `${when(e.at)}: ${t(`incidents.event.${e.kind}`)}, ${e.actor}${e.detail ? ` (${e.detail})` : ""}`)))) : null);
}

/** The air operator list: read by those who book and screen travel, kept by ARMO. */
async function operatorsView(view) {
  const table = el("div", { "data-testid": "operators" });
  const draw = async () => {
    const list = await attempt(() => api("GET", "/v1/air-operators"));
    if (!list) return;
    fill(table, list.items.length
      ? el("table", { class: "stack" },
        el("caption", { class: "visually-hidden" }, t("operators.caption")),
        el("thead", {}, el("tr", {}, ["code", "name", "assessment", "dates", "note"].map((h) => header(`operators.${h}`)))),
        el("tbody", {}, list.items.map((o) => el("tr", { "data-code": o.code },
          el("td", {}, o.code), el("td", {}, o.name),
          el("td", { "data-testid": "assessment" }, t(`operators.${o.assessment}`)),
          el("td", {}, o.until ? t("locator.stay", { arrival: day(o.from), departure: day(o.until) }) : t("operators.since", { from: day(o.from) })),
          el("td", {}, o.note || t("page.none"))))))
      : el("p", {}, t("operators.none")));
  };
  view.append(el("h2", {}, t("operators.title")), el("p", { class: "hint" }, t("operators.intro")), table);
  await draw();
  if (!has("aviation-risk")) return;
  const progress = el("p", { "data-testid": "rescreen-progress", role: "status" });
  const form = el("form", { class: "card", "data-testid": "operator-form" },
    el("h3", {}, t("operators.form")),
    el("label", { for: "o-code" }, t("operators.code")),
    el("input", { id: "o-code", required: true, maxlength: 3, pattern: "[A-Za-z]{3}", autocapitalize: "characters", placeholder: "KQA" }),
    el("label", { for: "o-name" }, t("operators.name")), el("input", { id: "o-name", required: true, maxlength: 200 }),
    el("label", { for: "o-assessment" }, t("operators.assessment")),
    el("select", { id: "o-assessment" }, ["assessed", "not_assessed", "restricted"].map((a) => el("option", { value: a }, t(`operators.${a}`)))),
    el("label", { for: "o-from" }, t("operators.from")), el("input", { id: "o-from", type: "date", required: true, value: today() }),
    el("label", { for: "o-until" }, t("operators.until")), el("input", { id: "o-until", type: "date" }),
    el("label", { for: "o-note" }, t("operators.note")), el("input", { id: "o-note", maxlength: 1000 }),
    el("div", { class: "actions" }, el("button", { type: "submit", "data-testid": "save-operator" }, t("operators.save"))),
    progress);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const code = $("#o-code").value.trim().toUpperCase();
    const body = {
      name: $("#o-name").value.trim(), assessment: $("#o-assessment").value, from: $("#o-from").value,
      until: $("#o-until").value || null, note: $("#o-note").value.trim() || null,
    };
    const done = await attempt(() => api("PUT", `/v1/air-operators/${encodeURIComponent(code)}`, body));
    if (!done) return;
    say(t("operators.saved", { code: done.operator.code, count: t("n.requests_rescreened", { n: done.rescreening.requests }) }), "ok");
    await draw();
    followRescreening(done.rescreening, progress);
  };
  view.append(form);
}

/** Polls a re-screening job until it is done, showing how far it got. */
async function followRescreening(job, line) {
  for (let i = 0; i < 600; i++) {
    const state = await api("GET", `/v1/rescreening/${job.id}`).catch(() => null);
    if (state) {
      line.textContent = t(state.status === "done" ? "rescreen.done" : "rescreen.progress", {
        processed: state.processed, total: t("n.requests", { n: state.total }), changed: state.changed,
      });
      if (state.status === "done") return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function suspensionControl(area, table) {
  const change = async (method, body, done) => {
    if (await attempt(() => api(method, `/v1/areas/${area.code}/suspension`, body))) {
      await areasChanged(table);
      say(done, "ok");
    }
  };
  if (area.suspension) {
    const lift = () => {
      if (!window.confirm(t("areas.lift_confirm", { area: area.code, name: area.name }))) return;
      change("DELETE", undefined, t("areas.lifted", { area: area.code }));
    };
    return el("button", { type: "button", class: "secondary", "aria-label": t("areas.lift_label", { area: area.code }), onclick: lift }, t("areas.lift"));
  }
  const reason = el("select", { "aria-label": t("areas.suspend_reason", { area: area.code }) },
    ["relocation", "evacuation", "programme_suspension"].map((r) => el("option", { value: r }, t(`suspension.${r}`))));
  const suspend = () => {
    const why = reason.options[reason.selectedIndex].textContent;
    // One click must not start an evacuation: say what it does and ask.
    if (!window.confirm(t("areas.suspend_confirm", { area: area.code, name: area.name, reason: why }))) return;
    change("POST", { reason: reason.value }, t("areas.suspended_done", { area: area.code, reason: why }));
  };
  return el("span", { class: "inline" }, reason,
    el("button", { type: "button", class: "danger", "aria-label": t("areas.suspend_label", { area: area.code }), onclick: suspend }, t("areas.suspend")));
}

// ---- Start ---------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  await useLanguage(chooseLanguage());
  $("#language").onchange = async () => {
    localStorage.setItem(LANGUAGE, $("#language").value);
    await useLanguage($("#language").value);
    // Everything drawn so far is redrawn in the new language, on the same view.
    whoName();
    if (session) tabs(currentView);
  };
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
