/**
 * The operator console in a real browser (Debian's chromium through playwright-core) against the
 * compiled binary and the real services: it loads clean (no console error, failed request or CSP
 * violation, no serious axe finding), its counts are the database's, filters and paging walk
 * 10,000 rows, database strings stay text, and every action works from the keyboard alone.
 * One browser for the file; each test has its own context, database, queue and scheduler.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { axeViolations, launchBrowser, tabTo, watch } from "../support/browser.ts";
import { startWithConsole } from "../support/console.ts";
import { testScope } from "../support/scope.ts";
import { bulkInsert, insertSchedules, type TestDatabase, waitFor } from "../support/services.ts";

const scope = testScope();
const TOKEN = "browser-console-token-0123456789";
const XSS = "<img src=x onerror=alert(1)>";
const DOCS = resolve(import.meta.dir, "../../docs");
/**
 * The screenshots docs/ shows are taken by this test, but written there only when asked
 * (CONSOLE_SCREENSHOTS=1), so a test run leaves the work tree as it found it.
 */
const SHOTS = process.env.CONSOLE_SCREENSHOTS === "1" ? DOCS : tmpdir();
let browser: Browser;
let closeBrowser: () => Promise<void>;

beforeAll(async () => {
  ({ browser, close: closeBrowser } = await launchBrowser());
});
afterAll(async () => closeBrowser?.());

async function running(env: Record<string, string> = {}) {
  return startWithConsole(scope, TOKEN, { SCHEDULER_POLL_INTERVAL: "1", ...env });
}

async function opened(
  base: string,
  hash = "",
  token = TOKEN,
  colorScheme: "light" | "dark" = "light",
  viewport = { width: 1360, height: 900 },
  expected: (url: string, status: number) => boolean = () => false,
) {
  const context = await browser.newContext({ viewport, colorScheme });
  scope.defer(() => context.close());
  const page = await context.newPage();
  const watched = await watch(
    page,
    (url, status) => (token !== TOKEN && status === 401 && url.includes("/console/api/")) || expected(url, status),
  );
  await page.goto(`${base}/console/${hash}`);
  await page.locator("#token").waitFor();
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");
  return { page, watched };
}

async function workflow(db: TestDatabase, name: string): Promise<number> {
  const [row] = await db.sql<
    { id: number }[]
  >`INSERT INTO workflows (name, workflow_data) VALUES (${name}, '{"k":1}') RETURNING id`;
  return row!.id;
}

const tiles = (page: Page) =>
  page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll(".tile")].map((tile) => [
        tile.querySelector(".tile-label")?.textContent,
        tile.querySelector(".tile-value")?.textContent,
      ]),
    ),
  );

describe("console in a browser", () => {
  test("the overview loads clean and its counts are the database's", async () => {
    const { db, base } = await running();
    const short = await insertSchedules(
      db.sql,
      Array.from({ length: 12 }, (_, i) => ({ dueInMs: i * 700, intervalSeconds: 3 + (i % 4), name: `report-${i}` })),
    );
    await insertSchedules(
      db.sql,
      Array.from({ length: 20 }, (_, i) => ({
        dueInMs: 600_000 + i * 60_000,
        intervalSeconds: 3600,
        name: `nightly-${i}`,
      })),
    );
    await db.sql`UPDATE scheduled_workflows SET is_active = false, last_error = 'paused by operator: upgrade' WHERE id IN (13, 14)`;
    await db.sql`UPDATE scheduled_workflows SET failure_count = 2, last_error = 'RabbitMQ did not take message' WHERE id = 15`;
    const wf = await workflow(db, XSS);
    await db.sql`INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds) VALUES
      (${wf}, now() AT TIME ZONE 'UTC' + interval '2 hours', 900), (987654, now() AT TIME ZONE 'UTC', 60), (${wf}, NULL, 60)`;
    // Let the short schedules fire a dozen times, so the charts and the recent fires have something to show.
    await waitFor(
      "a dozen fires of the short schedules",
      async () => {
        const [row] = await db.sql<{ fires: number }[]>`
          SELECT coalesce(sum(run_count), 0)::int AS fires FROM scheduled_workflows WHERE id = ANY(${short})`;
        return row!.fires >= 12;
      },
      30_000,
      100,
    );
    const { page, watched } = await opened(base);
    await page.getByText("This instance").waitFor();
    await page.locator(".tile").first().waitFor();
    // The table-wide counts come in a second answer; until then a count says so, never a number.
    const pending = await page.evaluate(() => {
      const card = document.querySelector('[aria-labelledby="health-h"]');
      const values = [...(card?.querySelectorAll(".tile") ?? [])]
        .filter((tile) => tile.querySelector(".tile-label")?.textContent !== "oldest overdue")
        .map((tile) => tile.querySelector(".tile-value")?.textContent);
      return { busy: card?.getAttribute("aria-busy") === "true", values };
    });
    for (const value of pending.values) expect(value).toMatch(pending.busy ? /^counting…$/ : /^\d+$/);
    await page.locator("#health-h").waitFor();
    await page.waitForFunction(() => document.querySelector('[aria-busy="true"]') === null);
    const [expected] = await db.sql<{ total: string; active: string; paused: string; failing: string }[]>`
      SELECT count(*) AS total, count(*) FILTER (WHERE is_active) AS active, count(*) FILTER (WHERE NOT is_active) AS paused,
             count(*) FILTER (WHERE failure_count > 0) AS failing FROM scheduled_workflows`;
    const shown = await tiles(page);
    expect(shown).toMatchObject({
      total: expected!.total,
      paused: expected!.paused,
      failing: expected!.failing,
      invalid: "2",
    });
    // "active" is what the engine fires, as the active filter lists it: the two invalid rows are not in it.
    expect(await page.getByText(`${Number(expected!.active) - 2} active`).count()).toBe(1);
    expect(await page.locator("svg.chart rect.bar").count()).toBeGreaterThan(0);
    expect(await page.getByText("Ready", { exact: true }).count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: `${SHOTS}/console-overview.png`, fullPage: true });
    expect(watched.problems).toEqual([]);
  }, 60_000);

  test("a wrong token is refused by the page", async () => {
    const { base } = await running();
    const { page, watched } = await opened(base, "", "wrong-token-0123456789abc");
    await page.getByText("That token was refused.").waitFor();
    expect(await page.getByText("This instance").count()).toBe(0);
    // The browser reports the refused call itself as a console error; nothing else may go wrong.
    expect(watched.problems.filter((line) => !line.includes("status of 401"))).toEqual([]);
  });

  test("filters and keyset paging walk 10,000 rows; a hostile name is only text", async () => {
    const { db, base } = await running();
    await bulkInsert(
      db,
      10_000,
      86_400,
      "now() AT TIME ZONE 'UTC' + interval '1 hour' + (random() * interval '10 days')",
    );
    await db.sql`UPDATE scheduled_workflows SET is_active = false, last_error = 'paused by operator' WHERE id % 100 = 0`;
    const wf = await workflow(db, XSS);
    const [hostile] = await db.sql<{ id: number }[]>`
      INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds) VALUES (${wf}, now() AT TIME ZONE 'UTC', 60) RETURNING id`;
    const { page, watched } = await opened(base, "#/schedules");
    await page.locator("tbody tr").first().waitFor();
    // The hostile row is due first: its name is the first row's text, and no <img> came of it.
    expect(await page.locator("tbody tr").first().locator("td.name").textContent()).toBe(XSS);
    expect(await page.locator("main img").count()).toBe(0);

    const seen: number[] = [];
    const next = page.getByRole("button", { name: "Next →" });
    for (let pageNo = 0; pageNo < 205; pageNo++) {
      const ids = await page.locator("tbody tr td:first-child").allTextContents();
      seen.push(...ids.map(Number));
      if (await next.isDisabled()) break;
      const first = ids[0];
      await next.click();
      await page.waitForFunction((was) => document.querySelector("tbody tr td")?.textContent !== was, first);
    }
    expect(seen).toHaveLength(10_001);
    expect(new Set(seen).size).toBe(10_001);
    expect(seen[0]).toBe(hostile!.id);

    await page.getByRole("button", { name: "paused", exact: true }).click();
    await page.waitForFunction(() => document.querySelector("#list-status")?.textContent?.startsWith("Rows 1–50"));
    const pausedIds = await page.locator("tbody tr td:first-child").allTextContents();
    expect(pausedIds.every((id) => Number(id) % 100 === 0)).toBe(true);
    await next.click();
    await page.waitForFunction(() => document.querySelector("#list-status")?.textContent?.startsWith("Rows 51–100"));
    expect(await next.isDisabled()).toBe(true);
    await page.getByRole("button", { name: "← Previous" }).click();
    await page.waitForFunction(() => document.querySelector("#list-status")?.textContent?.startsWith("Rows 1–50"));

    await page.getByRole("button", { name: "all", exact: true }).click();
    await page.getByLabel("Search by id or workflow name").fill("onerror");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 1);
    expect(await page.locator("tbody td.name").textContent()).toBe(XSS);
    expect(await axeViolations(page)).toEqual([]);
    expect(watched.problems).toEqual([]);
  }, 120_000);

  test("pause, resume, trigger and backfill from the keyboard alone", async () => {
    const { db, queue, base } = await running();
    const wf = await workflow(db, "month-end-ledger");
    // Sundays 02:30 in March and October, Berlin: the next slots cross both DST changes.
    const [row] = await db.sql<{ id: number }[]>`
      INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds, cron_expression, timezone)
      VALUES (${wf}, now() AT TIME ZONE 'UTC' + interval '30 days', NULL, '30 2 * 3,10 0', 'Europe/Berlin') RETURNING id`;
    const id = row!.id;
    const { page, watched } = await opened(base, `#/schedules/${id}`);
    await page.getByText("Next ten slots").waitFor();
    expect(await page.locator("tr.dst").count()).toBeGreaterThan(0);

    await tabTo(page, "pause-reason");
    await page.keyboard.type("ledger migration");
    await page.keyboard.press("Enter");
    await page.getByText(`ok paused schedule ${id}`).waitFor();
    const paused = await db.sql<
      { is_active: boolean; last_error: string }[]
    >`SELECT is_active, last_error FROM scheduled_workflows WHERE id = ${id}`;
    expect(paused[0]).toEqual({ is_active: false, last_error: "paused by operator: ledger migration" });

    await tabTo(page, "resume");
    await page.keyboard.press("Enter");
    await page.getByText(`ok resumed schedule ${id}`).waitFor();
    expect(
      (await db.sql<{ is_active: boolean }[]>`SELECT is_active FROM scheduled_workflows WHERE id = ${id}`)[0]!
        .is_active,
    ).toBe(true);

    await tabTo(page, "trigger");
    await page.keyboard.press("Enter");
    await tabTo(page, "confirm-trigger");
    await page.keyboard.press("Enter");
    await page.getByText(`ok triggered schedule ${id}`).waitFor();
    await waitFor("the triggered message", () => queue.messages.length === 1);
    await Bun.sleep(500); // time passing is the test: no second message follows the first
    expect(queue.messages).toHaveLength(1);
    expect(queue.messages[0]!.body).toMatchObject({ schedule_id: id, trigger_source: "manual" });

    await tabTo(page, "backfill-from");
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type("2026-03-01T00:00:00Z");
    await tabTo(page, "backfill-to");
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type("2026-04-01T00:00:00Z");
    await page.keyboard.press("Enter");
    await page.getByRole("button", { name: "Publish 5 message(s)" }).waitFor();
    expect(queue.messages).toHaveLength(1);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: `${SHOTS}/console-schedule.png`, fullPage: true });
    await tabTo(page, "confirm-backfill");
    await page.keyboard.press("Enter");
    await page.getByText(`ok published schedule ${id}`).waitFor();
    await waitFor("the backfilled messages", () => queue.messages.length === 6);
    expect(queue.messages.slice(1).map((m) => m.body.trigger_source)).toEqual(Array(5).fill("backfill"));
    expect(watched.problems).toEqual([]);
  }, 60_000);

  test("on a phone: no sideways scroll, names isolated and cut, a failed search keeps its controls, a paused schedule has no slots, backfill publishes what it previewed", async () => {
    const { db, queue, base } = await running();
    // A right-to-left override and 10 KB: the name must neither reorder "(id N)" nor widen the page.
    const name = `invoice\u202Eexe.${"y".repeat(10_240)}`;
    const wf = await workflow(db, name);
    const [a, b] = (
      await db.sql<{ id: number }[]>`
        INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds, is_active, last_error)
        VALUES (${wf}, now() AT TIME ZONE 'UTC' + interval '1 hour', 60, true, NULL),
               (${wf}, now() AT TIME ZONE 'UTC' + interval '10 seconds', 5, false, 'paused by operator: phone test')
        RETURNING id`
    ).map((row) => row.id);
    const { page, watched } = await opened(
      base,
      "#/schedules?q=a%00b",
      TOKEN,
      "light",
      { width: 390, height: 844 },
      (url, status) => status === 400 && url.includes("/console/api/schedules?"),
    );
    const sideways = () =>
      page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    const rightEdge = async (selector: string) => {
      const box = await page.locator(selector).first().boundingBox();
      return box ? box.x + box.width : Number.POSITIVE_INFINITY;
    };

    // The search is refused with its reason; the filters, the search and the pager stay.
    await page.getByText("q must be one line of text").waitFor();
    expect(await page.locator("button.filter").count()).toBe(6);
    expect(await page.getByLabel("Search by id or workflow name").isVisible()).toBe(true);
    expect(await sideways()).toBeLessThanOrEqual(0);
    await page.getByLabel("Search by id or workflow name").fill("");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("#list-status")?.textContent?.startsWith("Rows 1–2"));
    expect(await sideways()).toBeLessThanOrEqual(0);
    for (const control of [".live", "header button", "form.search button"])
      expect(await rightEdge(control)).toBeLessThanOrEqual(390);
    const listed = await page.evaluate(() => {
      const cell = document.querySelector("tbody td.name")!;
      return {
        isolated: cell.firstElementChild?.tagName === "BDI",
        shown: [...cell.textContent!].length,
        rowHeight: cell.parentElement!.getBoundingClientRect().height,
      };
    });
    expect(listed.isolated).toBe(true);
    expect(listed.shown).toBeLessThanOrEqual(121);
    expect(listed.rowHeight).toBeLessThan(200);

    await page.goto(`${base}/console/#/schedules/${a}`);
    await page.getByText("Next ten slots").waitFor();
    expect(await sideways()).toBeLessThanOrEqual(0);
    const facts = await page.evaluate(() => {
      const dd = [...document.querySelectorAll("dt")].find((dt) => dt.textContent === "Workflow")!.nextElementSibling!;
      const bdi = dd.querySelector("bdi")!;
      const after = [...dd.childNodes].slice([...dd.childNodes].indexOf(bdi) + 1).map((n) => n.textContent);
      return { inBdi: [...bdi.textContent!].length, text: bdi.textContent!, after };
    });
    expect(facts.inBdi).toBeLessThanOrEqual(121);
    expect(facts.text).toStartWith("invoice⟦U+202E⟧exe.yyy");
    expect(facts.after[0]).toBe(` (id ${wf})`);
    expect(await rightEdge("#trigger")).toBeLessThanOrEqual(390);
    expect(await rightEdge("#backfill-preview")).toBeLessThanOrEqual(390);

    // Backfill: a changed field takes the preview away; the button publishes the window previewed.
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const at = (ms: number) => new Date(ms).toISOString().replace(".000", "");
    const from = at(minute - 10 * 60_000);
    const to = at(minute);
    await page.locator("#backfill-from").fill(from);
    await page.locator("#backfill-to").fill(to);
    await page.locator("#backfill-preview").click();
    await page.getByRole("button", { name: "Publish 10 message(s)" }).waitFor();
    expect(await sideways()).toBeLessThanOrEqual(0);
    await page.locator("#backfill-from").fill(at(minute - 120 * 60_000));
    expect(await page.locator("#confirm-backfill").count()).toBe(0);
    await page.locator("#backfill-from").fill(from);
    await page.locator("#backfill-preview").click();
    await page.getByRole("button", { name: "Publish 10 message(s)" }).click();
    await page.getByText(`ok published schedule ${a}`).waitFor();
    expect(await page.getByText(`${new Date(minute).toISOString()}: 10 slot(s)`).count()).toBe(1);
    await waitFor("the backfilled messages", () => queue.messages.length === 10);
    await Bun.sleep(300);
    expect(queue.messages).toHaveLength(10);

    await page.goto(`${base}/console/#/schedules/${b}`);
    await page.getByText("Paused: no slot fires until it is resumed").waitFor();
    expect(await page.getByText("none: paused").count()).toBe(1);
    expect(await page.locator('[aria-labelledby="slots-h"] tbody tr').count()).toBe(0);
    expect(await sideways()).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${tmpdir()}/console-phone.png`, fullPage: true });

    await page.goto(`${base}/console/#/`);
    await page.getByText("Next ten up").waitFor();
    await page.waitForFunction(() => document.querySelector('[aria-busy="true"]') === null);
    expect(await page.locator("td.name bdi").count()).toBeGreaterThan(0);
    expect(await sideways()).toBeLessThanOrEqual(0);
    // The browser reports the refused search itself as a console error; nothing else may go wrong.
    expect(watched.problems.filter((line) => !line.includes("status of 400"))).toEqual([]);
  }, 90_000);
});
