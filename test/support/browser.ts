/**
 * A real browser for the console's tests: Debian's chromium driven by playwright-core (its own
 * browser download cannot work here), with a fresh profile, and a page watcher that gathers every
 * console error, failed request and CSP violation so a test can demand there were none.
 */
import { existsSync, readFileSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export async function launchBrowser(): Promise<{ browser: Browser; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/test-deps.sh installs Debian's chromium`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // launch() gives the browser a fresh profile of its own (and refuses --user-data-dir).
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
    },
  };
}

export interface Watched {
  /** Console errors, failed or 4xx/5xx requests, CSP violations, dialogs: each one line. */
  readonly problems: string[];
}

/** Reports every problem the page meets; CSP violations reach the console through an init script. */
export async function watch(
  page: Page,
  expectedStatus: (url: string, status: number) => boolean = () => false,
): Promise<Watched> {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => {
    // A live stream cut by navigation or the test's end is not a failure of the page.
    if (!request.url().endsWith("/console/api/events"))
      problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400 && !expectedStatus(response.url(), response.status()))
      problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  page.on("dialog", (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  return { problems };
}

const AXE = readFileSync(new URL("../../node_modules/axe-core/axe.min.js", import.meta.url), "utf8");

/** axe-core's serious and critical violations on the page as it is (run through the debugger, so the CSP stays as served). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => {
    const result = await (
      globalThis as unknown as {
        axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> };
      }
    ).axe.run();
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
  });
  return found
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.targets.slice(0, 3).join(", ")}`);
}

/** Presses Tab until the element with `id` has the focus: reaching a control by keyboard alone. */
export async function tabTo(page: Page, id: string, maxPresses = 80): Promise<void> {
  for (let i = 0; i < maxPresses; i++) {
    if (await page.evaluate((target) => document.activeElement?.id === target, id)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`#${id} was not reached with ${maxPresses} presses of Tab`);
}
