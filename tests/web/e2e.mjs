// End-to-end tests of the web page in a real headless browser (Debian's chromium driven by
// playwright-core) against the real service, started here on a random port with a fresh
// database, its own Redis key prefix and the sample areas. Each failing test leaves a
// screenshot in tests/web/screenshots/.
//
//   node tests/web/e2e.mjs        (CLEARWAY_BIN, CHROMIUM and REDIS_URL may override defaults)
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
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
async function signIn(browser, base, role, name, org = "UNICEF", width = 1280) {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  // A script error fails the test that caused it, with its message.
  page.on("pageerror", (error) => pageErrors.push(`${name}: ${error.message}`));
  // Confirmations (withdraw, suspend) are accepted: each test says what it confirms.
  page.on("dialog", (dialog) => dialog.accept());
  await page.goto(base);
  await page.selectOption("#dev-role", role);
  await page.fill("#dev-name", name);
  await page.fill("#dev-org", org);
  await page.click('[data-testid="dev-sign-in"]');
  await page.waitForSelector('[data-testid="who"]:has-text("' + name + '")');
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
  await test("a traveller submits a low-risk request and sees it cleared", all, async () => {
    traveller = await signIn(browser, service.base, "traveller", "alice", "UNICEF", 360);
    await submit(traveller, { area: "CHE-GVA" });
    const status = traveller.locator('[data-testid="decision"] [data-testid="status"]').first();
    await status.waitFor();
    expect((await status.textContent()) === "Cleared", `decision: ${await status.textContent()}`);
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

  await test("the DG's office approves it", all, async () => {
    dg = await signIn(browser, service.base, "approver-dg", "dg-1", "");
    await dg.click('[data-testid="queue-item"]:has-text("SOM-MOG")');
    await dg.click('[data-testid="claim"]');
    await dg.waitForSelector('#message:has-text("Claimed")');
    await dg.fill("#comment", "Approved for the mission");
    await dg.click('[data-testid="approve"]');
    await dg.waitForSelector('#message:has-text("Decision recorded")');
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

  await test("an analyst suspends and lifts an area and finds who is in one", all, async () => {
    analyst = await signIn(browser, service.base, "security-analyst", "analyst-1", "");
    const row = analyst.locator('[data-testid="areas"] tr', { hasText: "CHE-GVA" });
    await row.getByRole("button", { name: "Suspend" }).click();
    await analyst.waitForSelector('#message:has-text("CHE-GVA suspended")');
    await analyst.locator('[data-testid="areas"] tr', { hasText: "CHE-GVA" }).getByRole("button", { name: "Lift" }).click();
    await analyst.waitForSelector('#message:has-text("operations resume")');
    // The approved trip to SOM-MOG starts in 7 days: the crisis locator finds alice there.
    const arrival = new Date(Date.now() + 7 * 86400000).toISOString().slice(0, 10);
    await analyst.selectOption("#l-area", "SOM-MOG");
    await analyst.fill("#l-on", arrival);
    await analyst.click('[data-testid="locator-form"] button[type="submit"]');
    const count = await analyst.locator('[data-testid="locator-count"]').textContent();
    expect(count.startsWith("1 person holds"), count);
  });
} finally {
  await browser.close();
  service.child.kill("SIGTERM");
  rmSync(service.dir, { recursive: true, force: true });
}
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
