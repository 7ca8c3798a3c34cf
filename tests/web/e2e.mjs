// End-to-end tests of the web page in a real headless browser (Debian's chromium driven by
// playwright-core) against the real service, started here on a random port with a fresh
// database, its own Redis key prefix and the sample areas. Each failing test leaves a
// screenshot in tests/web/screenshots/.
//
//   node tests/web/e2e.mjs        (CLEARWAY_BIN, CHROMIUM and REDIS_URL may override defaults)
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createHmac } from "node:crypto";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const shots = join(here, "screenshots");
const TIMEOUT = 10_000;

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startService() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "clearway-web-"));
  const env = {
    ...process.env,
    CLEARWAY_ENV: "development",
    CLEARWAY_CONFIG_DIR: join(root, "config"),
    CLEARWAY__SERVER__PORT: String(port),
    CLEARWAY__DATABASE__URL: `sqlite://${join(dir, "clearway.db")}`,
    CLEARWAY__REDIS__URL: process.env.REDIS_URL || "redis://127.0.0.1:6379/0",
    CLEARWAY__REDIS__KEY_PREFIX: `clearway-web-${process.pid}-${Date.now()}:`,
    CLEARWAY__RATE_LIMITS__ENABLED: "false",
    CLEARWAY__LOG__FILTER: "warn",
  };
  const bin = process.env.CLEARWAY_BIN || join(root, "target", "debug", "clearway");
  const child = spawn(bin, ["serve", "--demo"], { env, stdio: ["ignore", "inherit", "inherit"] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, child, dir };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error("the service did not start");
}

/** A signed-in page of its own (separate storage), at `width` pixels. */
/** The view each role works in; signing in lands on the overview, and `land` keeps it there. */
const WORK = { traveller: "requests", "travel-unit": "requests", "approver-hq": "queue", "approver-dg": "queue", "security-analyst": "areas", "aviation-risk": "operators" };
async function signIn(browser, base, role, name, org = "UNICEF", width = 1280, options = {}, land = false) {
  const context = await browser.newContext({ viewport: { width, height: 800 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  // A script error fails the test that caused it, with its message.
  page.on("pageerror", (error) => pageErrors.push(`${name}: ${error.message}`));
  // Confirmations (withdraw, suspend) are accepted, unless a test declines the next one;
  // each test says what it confirms.
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    if (declining > 0) {
      declining -= 1;
      dialog.dismiss();
    } else {
      dialog.accept();
    }
  });
  page.on("response", (response) => {
    if (response.status() === 404) notFound.push(response.url());
  });
  await page.goto(base);
  await page.selectOption("#dev-role", role);
  await page.fill("#dev-name", name);
  await page.fill("#dev-org", org);
  await page.click('[data-testid="dev-sign-in"]');
  await page.waitForSelector('[data-testid="who"]:has-text("' + name + '")');
  if (!land) await page.click(`[data-testid="tab-${WORK[role]}"]`);
  return page;
}

async function submit(page, { area, pc = "PC3", missionSra = "" }) {
  await page.fill("#f-purpose", `Monitoring visit to ${area}`);
  await page.selectOption("#f-pc", pc);
  await page.fill("#f-msra", missionSra);
  await page.selectOption('[data-testid="leg"] .leg-area >> nth=0', area);
  await page.click('[data-testid="submit"]');
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

const results = [];
const pageErrors = [];
const dialogs = [];
let declining = 0;
let verifyLink = null;
const notFound = [];

/** WCAG contrast ratio of two CSS colours (rgb()/rgba() as getComputedStyle gives them). */
function contrast(a, b) {
  const lum = (css) => {
    const [r, g, bl] = css.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** axe-core's violations of WCAG 2.1 A and AA and its best practices on the page as it is. */
const AXE = readFileSync(join(here, "node_modules", "axe-core", "axe.min.js"), "utf8");
async function axeViolations(page) {
  await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];
    const { violations } = await window.axe.run(document, { runOnly: { type: "tag", values: tags } });
    return violations.map((v) => `${v.id} (${v.impact}, ${v.nodes.length}x, e.g. ${v.nodes[0].target.join(" ")}): ${v.help}`);
  });
}

/** Every English string French says differently (plain ones, without placeholders; the
 * language picker names each language in itself). */
const ENGLISH_ONLY = (() => {
  const en = JSON.parse(readFileSync(join(root, "src/http/ui/i18n/en.json"), "utf8"));
  const fr = JSON.parse(readFileSync(join(root, "src/http/ui/i18n/fr.json"), "utf8"));
  return Object.entries(en)
    .filter(([key, text]) => key !== "language.name" && typeof text === "string" && !text.includes("{") && fr[key] !== text && text.length > 3)
    .map(([, text]) => text);
})();

/** Fails when a page meant to be French shows any of them, as a word of its own. */
async function noEnglishLeft(page, where) {
  const text = await page.evaluate(() => document.body.innerText);
  const found = ENGLISH_ONLY.filter((s) => new RegExp(`(^|[^\\p{L}])${s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^\\p{L}])`, "u").test(text));
  expect(found.length === 0, `English left on ${where}: ${found.join(" | ")}`);
}

/** Whether the element is inside the viewport, wholly. */
async function inView(page, selector) {
  return page.evaluate((sel) => {
    const box = document.querySelector(sel).getBoundingClientRect();
    return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
  }, selector);
}
async function test(name, pages, body) {
  const started = Date.now();
  try {
    await body();
    if (pageErrors.length) throw new Error(`script errors: ${pageErrors.splice(0).join("; ")}`);
    results.push({ name, ok: true, ms: Date.now() - started });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    const scripts = pageErrors.splice(0);
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${error.message}${scripts.length ? `\n     script errors: ${scripts.join("; ")}` : ""}`);
    mkdirSync(shots, { recursive: true });
    for (const [label, page] of Object.entries(pages())) {
      if (page) await page.screenshot({ path: join(shots, `${name.replace(/\W+/g, "-")}-${label}.png`), fullPage: true }).catch(() => {});
    }
  }
}

const service = await startService();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
let traveller, hq, dg, analyst;
const all = () => ({ traveller, hq, dg, analyst });
try {
  let desk;
  await test("signed out, nothing says signed in; signing out hides name and tabs", () => ({ desk }), async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 800 } });
    const fresh = await context.newPage();
    await fresh.goto(service.base);
    await fresh.waitForSelector("#dev-sign-in");
    expect(!(await fresh.isVisible("#sign-out")), "Sign out shows before anyone signed in");
    expect(notFound.length === 0 || !notFound.some((u) => u.endsWith("/favicon.ico")), `404s: ${notFound}`);
    await context.close();
    desk = await signIn(browser, service.base, "travel-unit", "unicef-desk", "UNICEF", 1366);
    await desk.click("#sign-out");
    await desk.waitForSelector("#dev-sign-in");
    for (const gone of ["#who", "#sign-out", "#tabs", "#view"]) {
      expect(!(await desk.isVisible(gone)), `${gone} still shows after signing out`);
    }
  });

  await test("each itinerary label sits over its own field at desktop width", () => ({ desk }), async () => {
    desk = await signIn(browser, service.base, "travel-unit", "unicef-desk", "UNICEF", 1366);
    // Focus moved to the view: not left on <body>.
    expect(await desk.evaluate(() => document.activeElement !== document.body), "focus fell to <body> after signing in");
    await desk.click("#add-leg");
    expect(await desk.evaluate(() => document.activeElement === [...document.querySelectorAll(".leg-area")].at(-1)),
      "Add a leg left focus elsewhere than the new leg");
    const pairs = await desk.evaluate(() => [...document.querySelectorAll('[data-testid="leg"] label')].map((label) => {
      const field = document.getElementById(label.htmlFor).getBoundingClientRect();
      const box = label.getBoundingClientRect();
      return { text: label.textContent, dx: Math.abs(box.left - field.left), gap: field.top - box.bottom };
    }));
    for (const p of pairs) expect(p.dx < 4 && p.gap >= 0 && p.gap < 16, `label "${p.text}" is not over its field: ${JSON.stringify(p)}`);
    await desk.locator('[data-testid="remove-leg"]').last().click();
    expect(await desk.evaluate(() => document.activeElement !== document.body), "focus fell to <body> after removing a leg");
  });

  await test("focus ring and field borders stand out (WCAG 1.4.11, 3:1)", () => ({ desk }), async () => {
    await desk.focus("#f-purpose");
    await desk.keyboard.press("Tab");
    const [ring, border] = await desk.evaluate(() => {
      const focused = getComputedStyle(document.activeElement);
      return [focused.outlineColor, getComputedStyle(document.querySelector("#f-purpose")).borderTopColor];
    });
    const white = "rgb(255, 255, 255)";
    expect(contrast(ring, white) >= 3, `focus ring ${ring}: ${contrast(ring, white).toFixed(2)}:1`);
    expect(contrast(border, white) >= 3, `input border ${border}: ${contrast(border, white).toFixed(2)}:1`);
  });

  await test("a double click on Submit makes one request, and the form starts afresh", () => ({ desk }), async () => {
    await desk.fill("#f-id", "t-0042");
    await desk.fill("#f-name", "B. Field Officer");
    await desk.fill("#f-purpose", "Nutrition survey");
    await desk.selectOption('[data-testid="leg"] .leg-area >> nth=0', "CHE-GVA");
    await desk.dblclick('[data-testid="submit"]');
    await desk.waitForSelector('[data-testid="requests"] tr >> nth=1');
    await desk.waitForTimeout(500);
    const rows = await desk.locator('[data-testid="requests"] tbody tr').count();
    expect(rows === 1, `${rows} requests after one double click`);
    expect((await desk.inputValue("#f-purpose")) === "", "the form kept the last request's purpose");
    // Two requests within the same minute have titles one can tell apart.
    await desk.fill("#f-id", "t-0043");
    await desk.fill("#f-name", "C. Field Officer");
    await desk.fill("#f-purpose", "Nutrition survey");
    await desk.selectOption('[data-testid="leg"] .leg-area >> nth=0', "CHE-GVA");
    await desk.click('[data-testid="submit"]');
    await desk.waitForSelector('[data-testid="request-title"]:has-text("C. Field Officer")');
    const titles = new Set(await desk.locator('[data-testid="requests"] button').evaluateAll((b) => b.map((x) => x.getAttribute("aria-label"))));
    expect(titles.size === 2, `titles: ${[...titles]}`);
    // Search: the API filters; the list shows what matches, and says when nothing does.
    await desk.fill("#q-traveller", "t-0043");
    await desk.click('[data-testid="search"] button[type="submit"]');
    await desk.waitForFunction(() => document.querySelectorAll('[data-testid="requests"] tbody tr').length === 1);
    await desk.fill("#q-traveller", "");
    await desk.fill("#q-area", "SOM-MOG");
    await desk.click('[data-testid="search"] button[type="submit"]');
    await desk.waitForSelector('[data-testid="no-requests"]:has-text("No request matches")');
    await desk.fill("#q-area", "");
    await desk.click('[data-testid="search"] button[type="submit"]');
    await desk.waitForFunction(() => document.querySelectorAll('[data-testid="requests"] tbody tr').length === 2);
    // Conditions appear once, in their column; times name their zone.
    const why = await desk.locator('[data-testid="decision"] tbody td').nth(4).textContent();
    expect(!/conditions:/.test(why), `conditions repeated in: ${why}`);
    const time = await desk.locator('[data-testid="timeline"] time').first().textContent();
    expect(/GMT|UTC|CET|CEST/.test(time) && !/\.\d{3}/.test(time), `time shown as "${time}"`);
  });

  await test("a travel unit pages through its requests and orders them by travel date or traveller", () => ({ desk }), async () => {
    // 55 more requests, through the API as the desk's own token: 57 in all, over two pages.
    await desk.evaluate(async () => {
      const token = sessionStorage.getItem("clearway.token");
      const day = (n) => new Date(Date.now() + n * 86400000).toISOString().slice(0, 10);
      for (let i = 0; i < 55; i++) {
        const body = {
          traveller: { id: `bulk-${String(i).padStart(2, "0")}`, name: `Bulk ${String(54 - i).padStart(2, "0")}`, org: "UNICEF", bsafe_valid_until: day(400) },
          purpose: "Distribution monitoring", programme_criticality: "PC3",
          legs: [{ area: "JOR-AMM", arrival: day(10 + ((i * 7) % 30)), departure: day(12 + ((i * 7) % 30)) }],
        };
        const response = await fetch("/v1/clearance-requests", {
          method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", "Idempotency-Key": `bulk-${i}-${Date.now()}` },
          body: JSON.stringify(body),
        });
        if (response.status !== 201) throw new Error(`submission ${i}: ${response.status}`);
      }
    });
    await desk.click('[data-testid="search"] button[type="submit"]');
    // The live stream redraws the list while the 55 arrive; a refresh begun before the last
    // of them was stored must not land last (it once did, and said no more matched).
    await desk.waitForSelector('[data-testid="list-count"]:has-text("more match")');
    await desk.waitForFunction(() => document.querySelectorAll('[data-testid="requests"] tbody tr').length === 50);
    await desk.click('[data-testid="more"]');
    await desk.waitForFunction(() => document.querySelectorAll('[data-testid="requests"] tbody tr').length === 57);
    expect(!(await desk.isVisible('[data-testid="more"]')), "more offered after the last page");
    const rows = () => desk.locator('[data-testid="requests"] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.cells[1].textContent));
    await desk.selectOption("#q-order", "traveller");
    const names = await rows();
    expect(names.join("|") === [...names].sort((x, y) => x.localeCompare(y, "en")).join("|"), `by traveller: ${names.slice(0, 5)}`);
    await desk.selectOption("#q-order", "travel");
    // The first leg's date, as the page reads it from the API for the same rows.
    const dates = await desk.evaluate(async () => {
      const token = sessionStorage.getItem("clearway.token");
      const all = [];
      let cursor = null;
      do {
        const page = await (await fetch(`/v1/clearance-requests?limit=200${cursor ? `&cursor=${cursor}` : ""}`, { headers: { Authorization: `Bearer ${token}` } })).json();
        all.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor);
      return Object.fromEntries(all.map((r) => [r.traveller.name, r.legs[0].arrival]));
    });
    const shown = (await rows()).map((name) => dates[name]);
    expect(shown.join() === [...shown].sort().join(), `by travel date: ${shown.slice(0, 8)}`);
    await desk.selectOption("#q-order", "newest");
  });

  await test("a traveller submits a low-risk request and sees it cleared", all, async () => {
    traveller = await signIn(browser, service.base, "traveller", "alice", "UNICEF", 360);
    // Her address and language for the e-mails go with the request; English is preselected.
    expect((await traveller.inputValue("#f-lang")) === "en", `mail language: ${await traveller.inputValue("#f-lang")}`);
    await traveller.fill("#f-email", "alice@unicef.example");
    await submit(traveller, { area: "CHE-GVA" });
    const status = traveller.locator('[data-testid="decision"] [data-testid="status"]').first();
    await status.waitFor();
    expect((await status.textContent()) === "Cleared", `decision: ${await status.textContent()}`);
    const stored = await traveller.evaluate(async () => {
      const token = sessionStorage.getItem("clearway.token");
      const page = await (await fetch("/v1/clearance-requests", { headers: { Authorization: `Bearer ${token}` } })).json();
      return page.items[0].traveller;
    });
    expect(stored.email === "alice@unicef.example" && stored.language === "en", `stored: ${JSON.stringify(stored)}`);
    // Her page follows her requests live, from the service's stream.
    await traveller.waitForSelector('[data-testid="live"]:has-text("live")');
    // Usable at phone width: nothing wider than the screen.
    const overflow = await traveller.evaluate(() => document.documentElement.scrollWidth);
    expect(overflow <= 360, `the page is ${overflow} px wide at 360 px`);
  });

  await test("an HQ approver watches the queue live", all, async () => {
    hq = await signIn(browser, service.base, "approver-hq", "hq-1", "");
    await hq.waitForSelector('[data-testid="live"]:has-text("live")');
  });

  await test("a Very High request is escalated and appears in HQ's queue without a reload", all, async () => {
    await submit(traveller, { area: "SOM-MOG", pc: "PC1", missionSra: "MSRA-2026-114" });
    const status = traveller.locator('[data-testid="decision"] [data-testid="status"]').first();
    await traveller.waitForFunction(() => document.querySelector('[data-testid="decision"] [data-testid="status"]')?.textContent === "Escalated");
    expect((await status.textContent()) === "Escalated", "not escalated");
    await hq.waitForSelector('[data-testid="queue-item"]:has-text("SOM-MOG")');
  });

  await test("HQ claims and approves it, keeping a comment typed before the claim", all, async () => {
    await hq.click('[data-testid="queue-item"]:has-text("SOM-MOG")');
    // Typed first: claiming redraws the item, and the comment must survive it.
    await hq.fill("#comment", "Security plan reviewed");
    await hq.click('[data-testid="claim"]');
    await hq.waitForSelector('#message:has-text("Claimed")');
    const kept = await hq.inputValue("#comment");
    expect(kept === "Security plan reviewed", `the comment after the claim: "${kept}"`);
    await hq.click('[data-testid="approve"]');
    await hq.waitForSelector('#message:has-text("Decision recorded")');
  });

  await test("the traveller's open request follows the approvals without a reload", all, async () => {
    await traveller.locator('[data-testid="request-title"]').waitFor();
    expect(/SOM-MOG/.test(await traveller.locator('[data-testid="request-title"]').textContent()), "the escalated request is not the one open");
  });

  await test("the DG's office approves it", all, async () => {
    dg = await signIn(browser, service.base, "approver-dg", "dg-1", "");
    await dg.click('[data-testid="queue-item"]:has-text("SOM-MOG")');
    // Approving before claiming is refused: the reason shows where the approver looks,
    // however far down the page they are.
    await dg.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await dg.click('[data-testid="approve"]');
    await dg.waitForSelector('#message.error');
    expect(await inView(dg, "#message"), "the error is off-screen");
    await dg.getByRole("button", { name: "Release" }).click();
    await dg.waitForSelector('#message:has-text("nothing to release")');
    await dg.click('[data-testid="claim"]');
    await dg.waitForSelector('#message:has-text("Claimed")');
    await dg.fill("#comment", "Approved for the mission");
    await dg.click('[data-testid="approve"]');
    await dg.waitForSelector('#message:has-text("Decision recorded")');
  });

  await test("the traveller's page shows the approval by itself, consistently", all, async () => {
    // No click: the open request refreshes within a few seconds.
    await traveller.waitForSelector('[data-testid="headline"] [data-testid="status"]:has-text("Approved")', { timeout: 15_000 });
    const headline = await traveller.locator('[data-testid="headline"]').textContent();
    expect(!/needs approval by/.test(headline) && /hq-1/.test(headline) && /dg-1/.test(headline), `headline: ${headline}`);
    const legs = await traveller.locator('[data-testid="leg-outcome"]').allTextContents();
    expect(!legs.includes("Escalated") && !legs.includes("Needs approval") && legs.includes("Approved"), `leg outcomes: ${legs}`);
    const steps = await traveller.locator('[data-testid="timeline"] li').allTextContents();
    const hqStep = steps.find((t) => /approved by hq-1/.test(t)) || "";
    expect(!/Escalated/.test(hqStep), `HQ's approval reads: ${hqStep}`);
    expect(/next stage/.test(hqStep), `HQ's approval reads: ${hqStep}`);
    expect(/Travel as planned/.test(await traveller.locator('[data-testid="next-step"]').textContent()), "no next step");
  });

  await test("an approved request prints as a clearance with its reference", all, async () => {
    await traveller.emulateMedia({ media: "print" });
    try {
      const reference = await traveller.locator('[data-testid="print-reference"]').textContent();
      expect(/Reference: [0-9a-f-]{36}/.test(reference) && /alice/.test(reference) && /\/verify\/[0-9a-f-]{36}\./.test(reference), reference);
      expect(!(await traveller.isVisible('[data-testid="submit-form"]')), "the form prints");
      expect(await traveller.isVisible('[data-testid="decision"]'), "the decision does not print");
      verifyLink = await traveller.locator('[data-testid="print-reference"] a').getAttribute("href");
    } finally {
      await traveller.emulateMedia({ media: "screen" });
    }
  });

  let checkpoint;
  await test("anyone holding the printout opens its link, signed out, and sees it valid", () => ({ checkpoint }), async () => {
    // A stranger's phone: no session, no token, French, no script needed.
    const context = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: "fr-FR", javaScriptEnabled: false, bypassCSP: false });
    checkpoint = await context.newPage();
    const response = await checkpoint.goto(verifyLink);
    expect(response.status() === 200, `status ${response.status()}`);
    const verdict = await checkpoint.locator('[data-testid="verdict"]').textContent();
    expect(/^Valable\./.test(verdict), `verdict: ${verdict}`);
    expect(/alice \(UNICEF\)/.test(await checkpoint.locator('[data-testid="traveller"]').textContent()), "no traveller");
    expect(!/Monitoring visit/.test(await checkpoint.textContent("body")), "the purpose is public");
    // The page's own policy allows its stylesheet: it is styled, not raw.
    const colour = await checkpoint.locator('[data-testid="verdict"]').evaluate((v) => getComputedStyle(v).backgroundColor);
    expect(colour !== "rgba(0, 0, 0, 0)", "the verdict is unstyled");
    // One character of the id's tag changed: the page says the link verifies nothing.
    const forged = await checkpoint.goto(verifyLink.replace(/(\/verify\/[0-9a-f-]{36}\.)(.)/, (_, head, c) => head + (c === "A" ? "B" : "A")));
    expect(forged.status() === 404, `a forged link answers ${forged.status()}`);
    expect(/^Non valable\./.test(await checkpoint.locator('[data-testid="verdict"]').textContent()), "no verdict on a forged link");
    await context.close();
    // axe-core, which needs its own script (and so the policy bypassed), finds nothing.
    const audit = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: "fr-FR", bypassCSP: true });
    checkpoint = await audit.newPage();
    await checkpoint.goto(verifyLink);
    const violations = await axeViolations(checkpoint);
    await audit.close();
    expect(violations.length === 0, `${violations.length} violations:\n     ${violations.join("\n     ")}`);
  });

  await test("the traveller sees it approved with the full timeline", all, async () => {
    await traveller.click('[data-testid="tab-requests"]');
    const row = traveller.locator('[data-testid="requests"] tr', { hasText: "Approved" });
    await row.first().waitFor();
    await row.first().locator("button").click();
    await traveller.waitForSelector('[data-testid="timeline"] li');
    const steps = await traveller.locator('[data-testid="timeline"] li').allTextContents();
    const text = steps.join("\n");
    expect(/submitted/.test(text), `no submission in:\n${text}`);
    expect((text.match(/approved/g) || []).length >= 2, `not two approvals in:\n${text}`);
    expect(/hq-1/.test(text) && /dg-1/.test(text), `approvers missing in:\n${text}`);
  });

  await test("rejecting asks first; declining changes nothing, confirming rejects", all, async () => {
    await traveller.click('[data-testid="tab-requests"]');
    await submit(traveller, { area: "SOM-MOG", pc: "PC1", missionSra: "MSRA-2026-115" });
    await traveller.waitForFunction(() => document.querySelector('[data-testid="decision"] [data-testid="status"]')?.textContent === "Escalated");
    const title = await traveller.locator('[data-testid="request-title"]').textContent();
    const ref = title.match(/ref\. ([0-9a-f]+)/)[1];
    // The first SOM-MOG request left the queue when it was approved: this is the only one.
    await hq.click('[data-testid="tab-queue"]');
    await hq.locator('[data-testid="queue-item"]', { hasText: "SOM-MOG" }).click();
    await hq.waitForSelector(`h2:has-text("${ref}")`);
    await hq.click('[data-testid="claim"]');
    await hq.waitForSelector('#message:has-text("Claimed")');
    await hq.fill("#comment", "The mission can wait for the next window");
    const asked = dialogs.length;
    declining = 1;
    await hq.click('[data-testid="reject"]');
    await hq.waitForTimeout(300);
    expect(dialogs.length === asked + 1 && /^Reject .*must submit a new request/.test(dialogs.at(-1)), `asked: ${dialogs.slice(asked)}`);
    expect((await hq.inputValue("#comment")) === "The mission can wait for the next window", "declining lost the comment");
    const still = await traveller.evaluate(async (t) => {
      const token = sessionStorage.getItem("clearway.token");
      const page = await (await fetch("/v1/clearance-requests?status=escalated", { headers: { Authorization: `Bearer ${token}` } })).json();
      return page.items.some((r) => r.id.endsWith(t));
    }, ref);
    expect(still, "declining the confirmation rejected the request");
    await hq.click('[data-testid="reject"]');
    await hq.waitForSelector('#message:has-text("Decision recorded: rejected")');
    await traveller.waitForSelector('[data-testid="headline"] [data-testid="status"]:has-text("Rejected")', { timeout: 15_000 });
  });

  await test("HQ decides the sample team as one queue item, returning one member with a reason", all, async () => {
    await hq.click('[data-testid="tab-queue"]');
    const entry = hq.locator('[data-testid="queue-team"]', { hasText: "AFG-KBL" });
    await entry.waitFor();
    expect(/Team of 2 travellers/.test(await entry.textContent()), `the entry: ${await entry.textContent()}`);
    // Its members are not also listed one by one.
    expect((await hq.locator('[data-testid="queue-item"]', { hasText: "AFG-KBL" }).count()) === 0, "members listed apart");
    await entry.click();
    await hq.waitForSelector('[data-testid="team-member"] >> nth=1');
    const lars = hq.locator('[data-testid="team-member"]', { hasText: "Lars" });
    await lars.locator('[data-testid="exception-decision"]').selectOption("return");
    await lars.locator('[data-testid="exception-comment"]').fill("Needs the updated security plan");
    await hq.fill("#team-comment", "Mission essential; security plan reviewed");
    await hq.click('[data-testid="team-approve"]');
    await hq.waitForSelector('#message:has-text("Decision recorded for 2 travellers")');
    await hq.waitForFunction(() => !document.querySelector('[data-testid="queue-team"]'));
    const team = await hq.evaluate(async () => {
      const token = sessionStorage.getItem("clearway.token");
      return (await fetch("/v1/teams/0190a000-0000-7000-8000-000000000031", { headers: { Authorization: `Bearer ${token}` } })).json();
    });
    const states = team.members.map((m) => `${m.traveller.id}:${m.status}:${m.approval?.stage || "-"}`).join(" ");
    expect(states === "wfp-amina:escalated:dg wfp-lars:returned:-", `after the decision: ${states}`);
  });

  await test("an analyst suspends and lifts an area and finds who is in one", all, async () => {
    analyst = await signIn(browser, service.base, "security-analyst", "analyst-1", "");
    const row = analyst.locator('[data-testid="areas"] tr', { hasText: "CHE-GVA" });
    await row.getByRole("button", { name: "Suspend" }).click();
    await analyst.waitForSelector('#message:has-text("CHE-GVA suspended")');
    expect(dialogs.some((d) => /Suspend CHE-GVA/.test(d) && /screened again/.test(d)), `no confirmation: ${dialogs}`);
    await analyst.locator('[data-testid="areas"] tr', { hasText: "CHE-GVA" }).getByRole("button", { name: "Lift" }).click();
    await analyst.waitForSelector('#message:has-text("operations resume")');
    expect(dialogs.some((d) => /Lift the suspension of CHE-GVA/.test(d)), `no confirmation to lift: ${dialogs}`);
    // The approved trip to SOM-MOG starts in 7 days: the crisis locator finds alice there.
    const arrival = new Date(Date.now() + 7 * 86400000).toISOString().slice(0, 10);
    await analyst.selectOption("#l-area", "SOM-MOG");
    await analyst.fill("#l-on", arrival);
    await analyst.click('[data-testid="locator-form"] button[type="submit"]');
    const count = await analyst.locator('[data-testid="locator-count"]').textContent();
    expect(count.startsWith("1 person holds"), count);
  });

  await test("analysts filter and order the areas; approvers filter the queue", all, async () => {
    await analyst.fill("#a-text", "kenya");
    await analyst.waitForFunction(() => document.querySelectorAll('[data-testid="areas"] tbody tr').length === 1);
    expect(/KEN-NBO/.test(await analyst.locator('[data-testid="areas"] tbody tr').textContent()), "Kenya is not KEN-NBO");
    await analyst.fill("#a-text", "");
    await analyst.selectOption("#a-risk", "unacceptable");
    await analyst.waitForFunction(() => [...document.querySelectorAll('[data-testid="areas"] tbody tr')].every((r) => /unacceptable/.test(r.textContent)));
    await analyst.selectOption("#a-risk", "");
    await analyst.selectOption("#a-order", "risk");
    const first = await analyst.locator('[data-testid="areas"] tbody tr').first().textContent();
    expect(/suspended|unacceptable/.test(first), `highest risk first, but: ${first}`);
    await analyst.fill("#a-text", "atlantis");
    await analyst.waitForSelector('[data-testid="no-areas"]');
    await analyst.fill("#a-text", "");
    await analyst.selectOption("#a-order", "code");
    await hq.click('[data-testid="tab-queue"]');
    await hq.fill("#queue-filter", "nobody-by-this-name");
    await hq.waitForSelector('[data-testid="queue-empty"]');
    await hq.fill("#queue-filter", "");
  });

  await test("publishing an SRA offers the next version of the chosen area", all, async () => {
    await analyst.selectOption("#s-area", "KEN-NBO");
    await analyst.waitForFunction(() => document.querySelector("#s-version").value === "3");
    await analyst.selectOption("#s-area", "NER-NIA");
    await analyst.waitForFunction(() => document.querySelector("#s-version").value === "1");
  });

  await test("publishing at once starts from the SRA in force and asks first; declining publishes nothing", all, async () => {
    await analyst.selectOption("#s-area", "KEN-NBO");
    await analyst.waitForFunction(() => document.querySelector("#s-version").value === "3");
    const inForce = (await analyst.evaluate(async () => {
      const token = sessionStorage.getItem("clearway.token");
      return (await (await fetch("/v1/areas/KEN-NBO", { headers: { Authorization: `Bearer ${token}` } })).json()).in_force;
    }));
    expect(await analyst.inputValue("#s-risk") === inForce.risk, `the form offers ${await analyst.inputValue("#s-risk")}, in force ${inForce.risk}`);
    const asked = dialogs.length;
    declining = 1;
    await analyst.click('[data-testid="publish-form"] button[value="publish"]');
    await analyst.waitForTimeout(300);
    expect(dialogs.length === asked + 1 && /^Publish version 3 of the SRA for KEN-NBO now/.test(dialogs.at(-1)), `asked: ${dialogs.slice(asked)}`);
    expect(await analyst.inputValue("#s-version") === "3", "declining published version 3");
  });

  await test("an analyst takes an SRA from draft through endorsement and approval to publication", all, async () => {
    await analyst.selectOption("#s-area", "NER-NIA");
    await analyst.waitForFunction(() => document.querySelector("#s-version").value === "1");
    await analyst.selectOption("#s-risk", "medium");
    await analyst.click('[data-testid="save-draft"]');
    await analyst.waitForSelector('#message:has-text("Draft v1 saved")');
    const versions = analyst.locator('[data-testid="sra-versions"]');
    await versions.locator("tr", { hasText: "draft" }).waitFor();
    await analyst.fill('[aria-label="Endorsement: signed by"]', "SMT Niger");
    await analyst.click('button:has-text("Record endorsement")');
    await analyst.waitForSelector('#message:has-text("endorsement recorded")');
    await analyst.fill('[aria-label="Approval: signed by"]', "DO Niger");
    await analyst.click('button:has-text("Record approval")');
    await analyst.waitForSelector('#message:has-text("approval recorded")');
    await versions.getByRole("button", { name: "Publish" }).click();
    await analyst.waitForSelector('#message:has-text("v1 published")');
    await analyst.waitForSelector('[data-testid="rescreen-progress"]:has-text("done")');
    await versions.locator("tr", { hasText: "published" }).waitFor();
    const row = await analyst.locator('[data-testid="areas"] tr', { hasText: "NER-NIA" }).textContent();
    expect(/medium/.test(row), `NER-NIA after publication: ${row}`);
  });

  await test("withdrawing a published SRA asks first; declining keeps it in force", all, async () => {
    await analyst.selectOption("#s-area", "NER-NIA");
    const versions = analyst.locator('[data-testid="sra-versions"]');
    const published = versions.locator("tr", { hasText: "published" });
    await published.waitFor();
    const asked = dialogs.length;
    declining = 1;
    await published.locator('[data-testid="withdraw-sra"]').click();
    await analyst.waitForTimeout(300);
    expect(/^Withdraw version 1 of the SRA for NER-NIA\?/.test(dialogs.at(-1)) && dialogs.length === asked + 1, `asked: ${dialogs.slice(asked)}`);
    expect(await published.count() === 1, "declining withdrew the SRA");
    await published.locator('[data-testid="withdraw-sra"]').click();
    await analyst.waitForSelector('#message:has-text("v1 withdrawn")');
    await versions.locator("tr", { hasText: "withdrawn" }).waitFor();
    const row = await analyst.locator('[data-testid="areas"] tr', { hasText: "NER-NIA" }).textContent();
    expect(/none in force|no SRA/.test(row), `NER-NIA after the withdrawal: ${row}`);
  });

  await test("the map shows every placed area in its risk's colour, and who is there on a chosen day", all, async () => {
    const viaApi = (path, init = {}) => analyst.evaluate(async ([p, i]) => {
      const token = sessionStorage.getItem("clearway.token");
      const response = await fetch(p, { ...i, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...(i.headers || {}) } });
      return response.json();
    }, [path, init]);
    // An area nobody placed yet is named under the map, not drawn at 0°, 0°.
    await viaApi("/v1/areas", { method: "POST", body: JSON.stringify({ code: "TST-NOWHERE", name: "Nowhere", country: "Testland" }) });
    await analyst.click('[data-testid="tab-home"]');
    await analyst.click('[data-testid="tab-areas"]');
    await analyst.waitForSelector('[data-testid="map-area"]');
    const areasNow = (await viaApi("/v1/areas")).items;
    const expected = Object.fromEntries(areasNow.filter((a) => a.location)
      .map((a) => [a.code, a.suspension ? "suspended" : a.in_force ? a.in_force.risk : "none"]));
    const drawn = Object.fromEntries(await analyst.locator('[data-testid="map-area"]').evaluateAll((ms) => ms.map((m) => [m.dataset.area, m.dataset.risk])));
    expect(JSON.stringify(drawn, Object.keys(drawn).sort()) === JSON.stringify(expected, Object.keys(expected).sort()),
      `map ${JSON.stringify(drawn)}, API ${JSON.stringify(expected)}`);
    expect(/TST-NOWHERE/.test(await analyst.locator('[data-testid="map-unplaced"]').textContent()), "the unplaced area is not named");
    // One colour per risk level, and a different one for each level.
    const colours = await analyst.locator('[data-testid="map-area"] .dot').evaluateAll((dots) =>
      dots.map((d) => [d.parentElement.dataset.risk, getComputedStyle(d).backgroundColor]));
    const byRisk = {};
    for (const [risk, colour] of colours) (byRisk[risk] ||= new Set()).add(colour);
    expect(Object.values(byRisk).every((set) => set.size === 1), `colours: ${JSON.stringify(colours)}`);
    const levels = ["low", "medium", "high", "very_high", "unacceptable"].filter((r) => byRisk[r]);
    expect(new Set(levels.map((r) => [...byRisk[r]][0])).size === levels.length, `levels share a colour: ${JSON.stringify(colours)}`);
    // Labels shown do not sit on one another.
    const boxes = await analyst.locator('[data-testid="map-area"]:not(.unlabelled) .code').evaluateAll((ls) => ls.map((l) => {
      const r = l.getBoundingClientRect();
      return [l.textContent, r.left, r.top, r.right, r.bottom];
    }));
    for (const [i, a] of boxes.entries()) {
      for (const b of boxes.slice(i + 1)) {
        expect(!(a[1] < b[3] && b[1] < a[3] && a[2] < b[4] && b[2] < a[4]), `labels ${a[0]} and ${b[0]} overlap`);
      }
    }
    // Alice's approved trip to SOM-MOG begins in 7 days: the map counts her there that day.
    const arrival = new Date(Date.now() + 7 * 86400000).toISOString().slice(0, 10);
    await analyst.fill("#m-on", arrival);
    await analyst.dispatchEvent("#m-on", "change");
    const mog = analyst.locator('[data-testid="map-area"][data-area="SOM-MOG"]');
    await analyst.waitForFunction(() => /1 person there/.test(document.querySelector('[data-area="SOM-MOG"]').getAttribute("aria-label")));
    const counts = await viaApi(`/v1/headcounts?on=${arrival}`);
    const api = counts.items.find((h) => h.area === "SOM-MOG").people;
    expect(api === 1, `the API counts ${api} in SOM-MOG`);
    const row = await analyst.locator('[data-testid="map-people"] tr', { hasText: "SOM-MOG" }).textContent();
    expect(/SOM-MOG.*1$/.test(row.trim()), `people table: ${row}`);
    await mog.click();
    expect(/SOM-MOG Mogadishu: very high; 1 person there/.test(await analyst.locator('[data-testid="map-detail"]').textContent()), "no detail on click");
  });

  await test("the overviews' counts are the API's", all, async () => {
    const viaApi = (page, path) => page.evaluate(async (p) => {
      const token = sessionStorage.getItem("clearway.token");
      return (await fetch(p, { headers: { Authorization: `Bearer ${token}` } })).json();
    }, path);
    const figure = async (page, id) => (await page.locator(`[data-testid="figure-${id}"] strong`).textContent()).trim();
    await analyst.click('[data-testid="tab-home"]');
    await analyst.waitForSelector('[data-testid="people-today"]');
    const areasNow = (await viaApi(analyst, "/v1/areas")).items;
    const medium = areasNow.filter((a) => !a.suspension && a.in_force && a.in_force.risk === "medium").length;
    const none = areasNow.filter((a) => !a.suspension && !a.in_force).length;
    expect(await figure(analyst, "risk-medium") === String(medium), `medium: page ${await figure(analyst, "risk-medium")}, API ${medium}`);
    expect(await figure(analyst, "risk-none") === String(none), `without an SRA: page ${await figure(analyst, "risk-none")}, API ${none}`);
    // The latest re-screenings, as the API lists them once they have finished: a job still
    // running when the overview opened is followed live until the page shows it done too.
    let jobs = [];
    for (let i = 0; i < 50; i++) {
      jobs = (await viaApi(analyst, "/v1/rescreening?limit=5")).items;
      if (jobs.every((j) => j.status === "done")) break;
      await analyst.waitForTimeout(200);
    }
    const wanted = jobs.map((j) => `${j.id}:${j.status}`).join();
    const shown = () => analyst.locator('[data-testid="rescreens"] li').evaluateAll((lis) => lis.map((li) => `${li.dataset.job}:${li.dataset.status}`).join());
    await analyst.waitForFunction((w) => [...document.querySelectorAll('[data-testid="rescreens"] li')]
      .map((li) => `${li.dataset.job}:${li.dataset.status}`).join() === w, wanted, { timeout: 10_000 })
      .catch(() => {});
    expect(jobs.length > 0 && (await shown()) === wanted, `page ${await shown()}, API ${wanted}`);
    await hq.click('[data-testid="tab-home"]');
    await hq.waitForSelector('[data-testid="figure-hq-pending"]');
    const queue = await viaApi(hq, "/v1/escalations?stage=hq&limit=200");
    expect(await figure(hq, "hq-pending") === String(queue.items.length), "HQ's pending count");
    await traveller.click('[data-testid="tab-home"]');
    await traveller.waitForSelector('[data-testid="next-trip"]');
    const mine = (await viaApi(traveller, "/v1/clearance-requests?limit=200")).items;
    const cleared = mine.filter((r) => ["cleared", "approved"].includes(r.status)).length;
    expect(await figure(traveller, "cleared") === String(cleared), `cleared: page ${await figure(traveller, "cleared")}, API ${cleared}`);
    expect(/Next trip: alice/i.test(await traveller.locator('[data-testid="next-trip"]').textContent()), "no next trip");
  });

  await test("offline, the page says the service cannot be reached", all, async () => {
    await analyst.click('[data-testid="tab-areas"]');
    await analyst.waitForSelector('[data-testid="locator-form"]');
    await analyst.context().setOffline(true);
    await analyst.click('[data-testid="locator-form"] button[type="submit"]');
    await analyst.waitForSelector('#message:has-text("could not be reached")');
    await analyst.context().setOffline(false);
  });

  let chloe;
  await test("in French, every view speaks French, dates name their zone, and the choice is remembered", () => ({ chloe }), async () => {
    const leftovers = (where) => noEnglishLeft(chloe, where);
    // The browser asks for French: the page answers in French before anyone signs in.
    chloe = await signIn(browser, service.base, "traveller", "chloe", "UNICEF", 1366, { locale: "fr-FR" });
    expect(await chloe.evaluate(() => document.documentElement.lang) === "fr", "the page is not marked French");
    // A request held for training: the reason comes from its code, in French.
    await chloe.fill("#f-bsafe", "");
    await submit(chloe, { area: "CHE-GVA" });
    await chloe.waitForSelector('[data-testid="headline"]:has-text("Étape 1")');
    const headline = await chloe.locator('[data-testid="headline"]').textContent();
    expect(/En suspens/.test(headline) && /aucun certificat BSAFE/.test(headline), `headline: ${headline}`);
    expect(/^BSAFE manquant/.test(await chloe.locator('[data-testid="leg-reason"]').first().textContent()), "the leg's code is not in words");
    const time = await chloe.locator('[data-testid="timeline"] time').first().textContent();
    expect(/(janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc)/.test(time) && /UTC|GMT|CET|CEST/.test(time), `time: ${time}`);
    await leftovers("the requests view");
    // A problem is said in French from its code: departure before arrival.
    await chloe.fill("#f-purpose", "Mission d'évaluation");
    await chloe.selectOption('[data-testid="leg"] .leg-area >> nth=0', "CHE-GVA");
    await chloe.fill('[data-testid="leg"] .leg-departure >> nth=0', "2020-01-01");
    await chloe.click('[data-testid="submit"]');
    await chloe.waitForSelector("#message.error");
    const error = await chloe.locator("#message").textContent();
    expect(/^(L'itinéraire|Une étape)/.test(error) && !/\/legs/.test(error), `error: ${error}`);
    await chloe.click('[data-testid="tab-home"]');
    await chloe.waitForSelector('[data-testid="next-trip"]');
    await leftovers("the overview");
    // English, chosen on the page, wins over the browser's French, and stays after a reload.
    await chloe.click('[data-testid="tab-requests"]');
    await chloe.selectOption("#language", "en");
    await chloe.waitForSelector('[data-testid="tab-requests"][aria-current="page"]:has-text("Requests")');
    await chloe.reload();
    await chloe.waitForSelector('[data-testid="tab-home"]:has-text("Overview")');
    expect(await chloe.evaluate(() => document.documentElement.lang) === "en", "English was not remembered");
    await chloe.selectOption("#language", "fr");
    await chloe.waitForSelector('[data-testid="tab-home"]:has-text("Vue d\'ensemble")');
  });
  await chloe?.context().close();

  let analysteFr;
  await test("in French, the analyst's overview, areas, SRA workflow and locator speak French", () => ({ analysteFr }), async () => {
    analysteFr = await signIn(browser, service.base, "security-analyst", "analyste-fr", "", 1366, { locale: "fr-FR" }, true);
    await analysteFr.waitForSelector('[data-testid="people-today"]');
    for (const where of ["overview", "areas"]) {
      if (where === "areas") {
        await analysteFr.click('[data-testid="tab-areas"]');
        await analysteFr.waitForSelector('[data-testid="areas"]');
        await analysteFr.waitForSelector('[data-testid="sra-versions"] table');
      }
      await noEnglishLeft(analysteFr, `the ${where}`);
    }
    await analysteFr.click('[data-testid="locator-form"] button[type="submit"]');
    const count = await analysteFr.locator('[data-testid="locator-count"]').textContent();
    expect(/(personne détient|personnes détiennent) une autorisation/.test(count), count);
  });
  await analysteFr?.context().close();

  // Every view at both widths, as each role sees it with something open.
  let coordinator, dara, phone;
  await test("in a crisis, an analyst opens an incident and accounts for everyone in the area", () => ({ coordinator, dara, phone }), async () => {
    // Three UNICEF travellers in Geneva from today; Dara answers on her page, Faisal on his
    // personal link from a phone without JavaScript, and the analyst answers for Gita.
    dara = await signIn(browser, service.base, "traveller", "dara", "UNICEF", 360, { bypassCSP: true }, true);
    await dara.evaluate(async () => {
      const day = (n) => new Date(Date.now() + n * 86400000).toISOString().slice(0, 10);
      const desk = await (await fetch("/dev/token", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sub: "unicef-desk", roles: ["travel-unit"], org: "UNICEF" }) })).json();
      for (const [id, name] of [["dara", "Dara Okafor"], ["faisal", "Faisal Haddad"], ["gita", "Gita Rao"]]) {
        const response = await fetch("/v1/clearance-requests", {
          method: "POST", headers: { Authorization: `Bearer ${desk.token}`, "Content-Type": "application/json", "Idempotency-Key": `crisis-${id}-${Date.now()}` },
          body: JSON.stringify({ traveller: { id, name, org: "UNICEF", bsafe_valid_until: day(400) }, purpose: "Donor meeting",
            programme_criticality: "PC3", legs: [{ area: "CHE-GVA", arrival: day(0), departure: day(3) }] }),
        });
        if (response.status !== 201) throw new Error(`${id}: ${response.status}`);
      }
    });
    coordinator = await signIn(browser, service.base, "security-analyst", "analyst-crisis", "", 1366, { bypassCSP: true }, true);
    await coordinator.click('[data-testid="tab-incidents"]');
    await coordinator.check('input[name="incident-area"][value="CHE-GVA"]');
    await coordinator.fill("#i-description", "Flooding near the Palais des Nations");
    await coordinator.click('[data-testid="open-incident"]');
    await coordinator.waitForSelector('[data-testid="figure-incident-people"] strong:has-text("3")');
    expect(dialogs.at(-1).includes("CHE-GVA"), `confirmation: ${dialogs.at(-1)}`);
    const missing = () => coordinator.locator('[data-testid="missing-list"] tbody tr').count();
    expect((await missing()) === 3, `missing: ${await missing()}`);

    // Faisal's link: the service signs it under its (development) verification key.
    const entries = await coordinator.evaluate(async () => {
      const token = sessionStorage.getItem("clearway.token");
      const [incident] = (await (await fetch("/v1/incidents?status=open", { headers: { Authorization: `Bearer ${token}` } })).json()).items;
      const roll = await (await fetch(`/v1/incidents/${incident.id}/people`, { headers: { Authorization: `Bearer ${token}` } })).json();
      return Object.fromEntries(roll.items.map((e) => [e.traveller_id, e.id]));
    });
    const key = readFileSync(join(root, "config", "development.toml"), "utf8").match(/verification_key = "([^"]+)"/)[1];
    const tag = createHmac("sha256", key).update(Buffer.concat([Buffer.from("clearway incident check-in v1, entry:"),
      Buffer.from(entries.faisal.replace(/-/g, ""), "hex")])).digest().subarray(0, 16).toString("base64url");
    const link = `${service.base}/check-in/${entries.faisal}.${tag}`;
    const context = await browser.newContext({ viewport: { width: 360, height: 740 }, javaScriptEnabled: false, locale: "fr-FR", bypassCSP: true });
    phone = await context.newPage();
    const opened = await phone.goto(link);
    const size = (await opened.body()).length;
    expect(opened.status() === 200 && size < 30_000, `the page: ${opened.status()}, ${size} bytes`);
    expect((await phone.locator("h1").textContent()) === "Êtes-vous en sécurité ?", "not in French");
    await phone.fill("#message", "Coincé au 3e étage");
    await phone.fill("#callback", "+41 22 555 0101");
    await phone.click('[data-testid="help"]');
    await phone.waitForSelector('[data-testid="answer"]:has-text("besoin d\'aide")');
    const phoneWidth = await phone.evaluate(() => document.documentElement.scrollWidth);
    expect(phoneWidth <= 360, `the page is ${phoneWidth} px wide on a 360 px phone`);
    // axe-core needs script: the same page in a context that runs it.
    const checker = await (await browser.newContext({ viewport: { width: 360, height: 740 }, locale: "fr-FR", bypassCSP: true })).newPage();
    await checker.goto(link);
    const onPhone = await axeViolations(checker);
    await checker.context().close();
    expect(onPhone.length === 0, `check-in page: ${onPhone.join("; ")}`);

    // Dara answers on her own overview.
    await dara.reload();
    await dara.click('[data-testid="check-in"] [data-testid="answer-safe"]');
    await dara.waitForSelector('[data-testid="check-in-answer"]');

    // The analyst answers for Gita; the board, redrawn meanwhile, leaves the form alone.
    await coordinator.click('[data-testid="answer-for-gita"]');
    await coordinator.fill('[data-testid="answer-form"] input', "Called her hotel");
    await coordinator.waitForTimeout(6000);
    expect((await coordinator.inputValue('[data-testid="answer-form"] input')) === "Called her hotel", "the redraw took the form");
    await coordinator.click('[data-testid="record-answer"]');
    await coordinator.waitForSelector('[data-testid="figure-incident-missing"] strong:has-text("0")');
    expect((await coordinator.locator('[data-testid="figure-incident-safe"] strong').textContent()) === "2", "two accounted for");
    const help = await coordinator.locator('[data-testid="help-list"]').textContent();
    expect(help.includes("Faisal Haddad") && help.includes("Coincé au 3e étage") && help.includes("+41 22 555 0101"), `help list: ${help}`);
    const violations = await axeViolations(coordinator);
    expect(violations.length === 0, `board: ${violations.join("; ")}`);

    // Closed: the link says so and takes no answer.
    await coordinator.click('[data-testid="close-incident"]');
    await coordinator.waitForSelector('[data-testid="incident-board"] p:has-text("closed")');
    await phone.goto(link);
    await phone.waitForSelector('[data-testid="closed"]');
    expect(!(await phone.isVisible('[data-testid="safe"]')), "a closed incident still offers to answer");
  });
  await phone?.context().close();

  let armo, flyer;
  await test("ARMO restricts an operator: a flight on it is held, and clears once it is assessed", () => ({ armo, flyer }), async () => {
    armo = await signIn(browser, service.base, "aviation-risk", "armo-1", "");
    const save = async (assessment) => {
      await armo.fill("#o-code", "zzr");
      await armo.fill("#o-name", "Sample Restricted Air");
      await armo.selectOption("#o-assessment", assessment);
      await armo.click('[data-testid="save-operator"]');
      await armo.waitForSelector(`[data-testid="operators"] tr[data-code="ZZR"] [data-testid="assessment"]:has-text("${assessment === "restricted" ? "Restricted" : "Assessed"}")`);
    };
    await save("restricted");
    flyer = await signIn(browser, service.base, "traveller", "felix", "UNICEF");
    await flyer.fill("#f-purpose", "Donor visit");
    await flyer.selectOption('[data-testid="leg"] .leg-area >> nth=0', "CHE-GVA");
    // The operator's fields appear only for a flight.
    expect(!(await flyer.isVisible(".leg-operator")), "the operator field shows before a flight is chosen");
    await flyer.selectOption(".leg-mode", "flight");
    await flyer.fill(".leg-operator", "ZZR");
    await flyer.fill(".leg-flight-number", "ZR 101");
    await flyer.click('[data-testid="submit"]');
    const status = flyer.locator('[data-testid="decision"] [data-testid="status"]').first();
    await status.waitFor();
    expect((await status.textContent()) === "Held", `decision: ${await status.textContent()}`);
    const reason = await flyer.locator('[data-testid="leg-reason"]').first().textContent();
    expect(reason.includes("Air operator restricted") && reason.includes("ZZR"), `reason: ${reason}`);
    expect((await flyer.locator('[data-testid="decision"]').textContent()).includes("Flight ZR101 (ZZR)"), "the leg does not say how it is travelled");
    // ARMO assesses it: the traveller's page follows the re-screening by itself.
    await save("assessed");
    await armo.waitForSelector('[data-testid="rescreen-progress"]:has-text("1 changed; done")');
    await flyer.waitForSelector('[data-testid="decision"] [data-testid="status"]:has-text("Cleared")');
  });
  await armo?.context().close();
  await flyer?.context().close();

  let briefer, reader;
  await test("an SRA with a briefing: the traveller reads it, acknowledges it, and the clearance is issued", () => ({ briefer, reader }), async () => {
    briefer = await signIn(browser, service.base, "security-analyst", "analyst-9", "");
    // NER-NIA's version 1 was withdrawn above: the form offers version 2.
    await briefer.selectOption("#s-area", "NER-NIA");
    await briefer.waitForFunction(() => document.querySelector("#s-version").value === "2");
    await briefer.fill("#s-from", new Date().toISOString().slice(0, 10));
    await briefer.selectOption("#s-risk", "low");
    await briefer.fill("#s-briefing", "Stay in the compound after dark.\nCarry your radio.");
    await briefer.fill("#s-briefing-url", "https://briefings.example.org/ner");
    await briefer.click('[data-testid="publish-form"] button[value="publish"]');
    await briefer.waitForSelector('[data-testid="rescreen-progress"]:has-text("done")');
    // axe-core is injected as a script, which the page's own policy rightly refuses.
    reader = await signIn(browser, service.base, "traveller", "nadia", "UNICEF", 360, { bypassCSP: true });
    await submit(reader, { area: "NER-NIA" });
    const status = reader.locator('[data-testid="decision"] [data-testid="status"]').first();
    await status.waitFor();
    expect((await status.textContent()) === "Briefing to acknowledge", `decision: ${await status.textContent()}`);
    const card = reader.locator('[data-testid="briefings"]');
    const text = await card.textContent();
    expect(text.includes("Stay in the compound after dark.") && text.includes("NER-NIA"), `briefing: ${text}`);
    expect((await card.locator("a").getAttribute("href")) === "https://briefings.example.org/ner", "the briefing's link");
    const violations = await axeViolations(reader);
    expect(violations.length === 0, `briefing card: ${violations.join("; ")}`);
    await reader.click('[data-testid="acknowledge"]');
    await reader.waitForSelector('[data-testid="decision"] [data-testid="status"]:has-text("Cleared")');
    await reader.waitForSelector('[data-testid="timeline"] li:has-text("briefing acknowledged")');
    expect(!(await reader.isVisible('[data-testid="acknowledge"]')), "the button stays after acknowledging");
  });
  await briefer?.context().close();
  await reader?.context().close();

  for (const width of [1366, 360]) {
    const views = [
      ["signed out", null, async () => {}],
      ["traveller's requests", ["traveller", "alice", "UNICEF"], async (page) => {
        await page.locator('[data-testid="requests"] button').first().click();
        await page.waitForSelector('[data-testid="timeline"] li');
      }],
      ["approver's queue", ["approver-hq", "hq-2", ""], async (page) => {
        await page.waitForSelector('[data-testid="live"]:has-text("live")');
      }],
      // The sample team's member HQ approved waits at the DG's office.
      ["approver's team", ["approver-dg", "dg-2", ""], async (page) => {
        await page.click('[data-testid="queue-team"]');
        await page.waitForSelector('[data-testid="team-member"]');
      }],
      ["analyst's areas", ["security-analyst", "analyst-2", ""], async (page) => {
        await page.waitForSelector('[data-testid="areas"]');
      }],
      ["aviation risk officer's operators", ["aviation-risk", "armo-2", ""], async (page) => {
        await page.waitForSelector('[data-testid="operators"] table');
      }],
      ["traveller's overview", ["traveller", "alice", "UNICEF", "land"], async (page) => {
        await page.waitForSelector('[data-testid="next-trip"]');
      }],
      ["analyst's overview", ["security-analyst", "analyst-3", "", "land"], async (page) => {
        await page.waitForSelector('[data-testid="people-today"]');
      }],
      ["traveller's requests, in French,", ["traveller", "chloe", "UNICEF", "", "fr-FR"], async (page) => {
        await page.locator('[data-testid="requests"] button').first().click();
        await page.waitForSelector('[data-testid="timeline"] li');
      }],
    ];
    for (const [label, who, open] of views) {
      let page;
      await test(`axe-core finds nothing on the ${label} view at ${width} px`, () => ({ page }), async () => {
        // axe is injected as a script, which the page's own policy rightly refuses.
        const options = { bypassCSP: true };
        if (who) {
          const [role, name, org, land, locale] = who;
          if (locale) options.locale = locale;
          page = await signIn(browser, service.base, role, name, org, width, options, land === "land");
        } else {
          const context = await browser.newContext({ viewport: { width, height: 800 }, ...options });
          page = await context.newPage();
          await page.goto(service.base);
          await page.waitForSelector("#dev-sign-in");
        }
        await open(page);
        // Nothing the page meant to leave out or fill in shows as text.
        const text = await page.evaluate(() => document.body.innerText);
        const leaks = text.match(/\bnull\b|\bundefined\b|\bNaN\b|\{[a-z_]+\}|\b[a-z_]+\.[a-z_.]+[a-z]\b(?=\s|$)/g);
        expect(!leaks, `shown as text: ${leaks}`);
        const violations = await axeViolations(page);
        expect(violations.length === 0, `${violations.length} violations:\n     ${violations.join("\n     ")}`);
      });
      await page?.context().close();
    }
  }
} finally {
  await browser.close();
  service.child.kill("SIGTERM");
  rmSync(service.dir, { recursive: true, force: true });
}
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
