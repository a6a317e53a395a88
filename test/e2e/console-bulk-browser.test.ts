/**
 * Select, then act, in a real browser (Debian's chromium through playwright-core) against the
 * compiled binary: tick two schedules on the list, ask for pause, read the preview, confirm; the
 * rows are paused and the page says so, with no console error or failed request.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { launchBrowser, watch } from "../support/browser.ts";
import { startWithConsole } from "../support/console.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules } from "../support/services.ts";

const scope = testScope();
const TOKEN = "browser-bulk-token-0123456789";
let browser: Browser;
let closeBrowser: () => Promise<void>;

beforeAll(async () => {
  ({ browser, close: closeBrowser } = await launchBrowser());
});
afterAll(async () => closeBrowser?.());

test("tick two schedules, preview the pause, confirm: both are paused and the rest untouched", async () => {
  const { db, base } = await startWithConsole(scope, TOKEN, {});
  const ids = await insertSchedules(db.sql, [
    { dueInMs: 3_600_000, intervalSeconds: 3600, name: "first" },
    { dueInMs: 3_700_000, intervalSeconds: 3600, name: "second" },
    { dueInMs: 3_800_000, intervalSeconds: 3600, name: "third" },
  ]);
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  scope.defer(() => context.close());
  const page = await context.newPage();
  const watched = await watch(page, () => false);
  await page.goto(`${base}/console/#/schedules`);
  await page.locator("#token").waitFor();
  await page.keyboard.type(TOKEN);
  await page.keyboard.press("Enter");
  await page.getByLabel(`select schedule ${ids[0]}`).check();
  await page.getByLabel(`select schedule ${ids[1]}`).check();
  await page.getByText("2 selected").waitFor();
  await page.getByRole("button", { name: "pause", exact: true }).click();
  await page.getByText("pause 2 schedule(s):").waitFor();
  const rows = await db.sql<{ is_active: boolean }[]>`SELECT is_active FROM scheduled_workflows ORDER BY id`;
  expect(rows.map((r) => r.is_active)).toEqual([true, true, true]);
  await page.getByRole("button", { name: "Confirm: pause 2 schedule(s)" }).click();
  await page.getByText(`ok paused schedule ${ids[1]}`).waitFor();
  const after = await db.sql<{ is_active: boolean }[]>`SELECT is_active FROM scheduled_workflows ORDER BY id`;
  expect(after.map((r) => r.is_active)).toEqual([false, false, true]);
  expect(watched.problems).toEqual([]);
});
