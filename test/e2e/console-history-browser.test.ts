/**
 * The console's history views in a real browser (docs/console.md §3): a schedule's fires from the
 * history table with Older paging, and the Activity view of operator actions; clean (no console
 * error, failed request or CSP violation, no serious axe finding), database text only as text.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { axeViolations, launchBrowser, watch } from "../support/browser.ts";
import { startWithConsole, startWithoutHistoryGrant } from "../support/console.ts";
import { addHistoryTables } from "../support/history.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules } from "../support/services.ts";

const scope = testScope();
const TOKEN = "history-browser-token-0123456789";
const XSS = "<img src=x onerror=alert(1)>";
let browser: Browser;
let closeBrowser: () => Promise<void>;

beforeAll(async () => {
  ({ browser, close: closeBrowser } = await launchBrowser());
});
afterAll(async () => closeBrowser?.());

test("a schedule's history pages back with Older; Activity lists who did what", async () => {
  const { db, base } = await startWithConsole(scope, TOKEN);
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  await db.sql`
    INSERT INTO scheduler_fire_history (schedule_id, slot, message_id, outcome, reason, replica, run_number, recorded_at, lag_seconds)
    SELECT ${id!}, timestamptz '2026-01-01' + g * interval '1 minute', ${id!} || ':' || g,
           CASE WHEN g = 30 THEN 'failed' ELSE 'published' END, CASE WHEN g = 30 THEN ${XSS} END,
           'replica-' || (g % 3), g, timestamptz '2026-01-01' + g * interval '1 minute', 0.012
      FROM generate_series(1, 30) g`;
  await db.sql`INSERT INTO scheduler_audit (actor, source, action, schedule_ids, reason, outcome)
               VALUES ('cli alice', 'cli', 'pause', ARRAY[${id!}::int], ${XSS}, 'paused')`;

  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  scope.defer(() => context.close());
  const page = await context.newPage();
  const watched = await watch(page);
  await page.goto(`${base}/console/#/schedules/${id}`);
  await page.locator("#token").waitFor();
  await page.keyboard.type(TOKEN);
  await page.keyboard.press("Enter");
  const rows = page.locator(".history tbody tr");
  await rows.nth(24).waitFor();
  expect(await rows.count()).toBe(25);
  expect(await rows.first().textContent()).toContain("failed");
  expect(await rows.first().textContent()).toContain(XSS); // the reason, as text
  await page.getByRole("button", { name: "Older" }).click();
  await rows.nth(29).waitFor();
  expect(await rows.count()).toBe(30);
  expect(await page.getByRole("button", { name: "Older" }).count()).toBe(0);
  expect(await rows.last().textContent()).toContain(`${id}:1`);
  await page.screenshot({ path: join(tmpdir(), "rune-console-history.png"), fullPage: true });
  expect(await axeViolations(page)).toEqual([]);

  await page.getByRole("link", { name: "Activity" }).click();
  const actions = page.locator(".history tbody tr");
  await actions.first().waitFor();
  expect(await actions.count()).toBe(1);
  const cells = await actions.first().locator("td").allTextContents();
  expect(cells.slice(1)).toEqual(["cli alice", "pause", `#${id}`, "paused", XSS]);
  expect(await page.locator("img").count()).toBe(0);
  expect(await axeViolations(page)).toEqual([]);
  expect(watched.problems).toEqual([]);
}, 60_000);

test("a database user that may not read the history: the view says so and names the GRANT, instead of loading forever", async () => {
  const { id, user, base } = await startWithoutHistoryGrant(scope, TOKEN);
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  scope.defer(() => context.close());
  const page = await context.newPage();
  await page.goto(`${base}/console/#/schedules/${id}`);
  await page.locator("#token").waitFor();
  await page.keyboard.type(TOKEN);
  await page.keyboard.press("Enter");
  const refusal = page.locator(".history [role=alert]");
  await refusal.waitFor();
  expect(await refusal.textContent()).toBe(
    `PostgreSQL user "${user}" may not read the history (no SELECT on scheduler_fire_history); to let it, run GRANT SELECT ON scheduler_fire_history TO ${user}`,
  );
  await page.getByRole("link", { name: "Activity" }).click();
  await page.getByText("no SELECT on scheduler_audit").waitFor();
  expect(await axeViolations(page)).toEqual([]);
}, 60_000);
