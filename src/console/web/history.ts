/// <reference lib="dom" />
/**
 * The history table's views: a schedule's fires (every replica's) and the operators' activity,
 * newest first, a page at a time with "Older". Without the tables they say how to turn them on.
 */

import type { ActivityEntry, ActivityPage, HistoryFire, HistoryPage } from "../contract.ts";
import { get } from "./api.ts";
import { h, replace } from "./dom.ts";
import { lag } from "./format.ts";
import type { View } from "./overview.ts";

const MIGRATION = "scripts/migrations/004_history_tables.sql";
const time = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 23)} UTC`;

function table(headers: string[], body: HTMLElement): HTMLElement {
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
    body,
  );
}

function fireRow(f: HistoryFire): HTMLElement {
  const badge = f.outcome === "published" ? "ok" : f.outcome === "failed" ? "bad" : "warn";
  return h(
    "tr",
    {},
    h("td", {}, time(f.slot)),
    h(
      "td",
      {},
      h("span", { class: `badge ${badge}` }, f.outcome),
      f.reason ? h("span", { class: "muted" }, ` ${f.reason}`) : "",
    ),
    h("td", { class: "num" }, lag(f.lagSeconds === null ? null : f.lagSeconds * 1000)),
    h("td", { class: "num" }, f.missedRuns > 0 ? String(f.missedRuns) : ""),
    h("td", {}, f.messageId ? h("code", {}, f.messageId) : ""),
    h("td", {}, f.replica),
    h("td", { class: "num" }, f.runNumber === null ? "" : String(f.runNumber)),
  );
}

/**
 * A list that loads a page, then appends older ones on "Older". `reload` starts it again from the
 * newest, unless the operator has paged back (then it leaves what they are reading alone).
 */
function pagedList<T>(
  load: (before: string | null) => Promise<{ available: boolean; items: readonly T[]; next: string | null }>,
  headers: string[],
  row: (item: T) => HTMLElement,
  empty: string,
) {
  const root = h("div", { class: "history" }, h("p", { class: "muted" }, "Loading…"));
  const body = h("tbody", {});
  let paged = false;
  const older = (next: string | null) =>
    next &&
    h(
      "button",
      {
        type: "button",
        class: "secondary small older",
        on: {
          click: async (event) => {
            paged = true;
            (event.currentTarget as HTMLElement).remove();
            const page = await load(next);
            for (const item of page.items) body.appendChild(row(item));
            const more = older(page.next);
            if (more) root.appendChild(more);
          },
        },
      },
      "Older",
    );
  const reload = async () => {
    if (paged) return;
    let page: Awaited<ReturnType<typeof load>>;
    try {
      page = await load(null);
    } catch (error) {
      // A refusal (a user who may not read the history: 403 with the GRANT) said in the view.
      replace(
        root,
        h("p", { class: "outcome bad", role: "alert" }, error instanceof Error ? error.message : String(error)),
      );
      return;
    }
    if (!page.available) {
      replace(
        root,
        h(
          "p",
          { class: "muted" },
          "No history table in this database: run ",
          h("code", {}, MIGRATION),
          " to record it.",
        ),
      );
      return;
    }
    if (page.items.length === 0) return replace(root, h("p", { class: "muted" }, empty));
    replace(body, page.items.map(row));
    replace(root, table(headers, body), older(page.next));
  };
  return { root, reload };
}

/** A schedule's fires from the history table, for its detail view. */
export function fireHistory(id: string) {
  return pagedList<HistoryFire>(
    async (before) => {
      const page = await get<HistoryPage>(
        `schedules/${encodeURIComponent(id)}/history${before ? `?before=${encodeURIComponent(before)}` : ""}`,
      );
      return { available: page.available, items: page.fires, next: page.next };
    },
    ["Slot", "Outcome", "Lag", "Missed", "Message id", "Replica", "Run"],
    fireRow,
    "No fire recorded yet (or all pruned).",
  );
}

function actionRow(a: ActivityEntry): HTMLElement {
  return h(
    "tr",
    {},
    h("td", {}, time(a.at)),
    h("td", {}, a.actor),
    h("td", {}, a.action),
    h(
      "td",
      {},
      a.scheduleIds.map((id, i) => [i > 0 ? ", " : "", h("a", { href: `#/schedules/${id}` }, `#${id}`)]),
    ),
    h("td", {}, a.outcome),
    h("td", {}, a.reason ?? ""),
  );
}

/** The operators' actions across all schedules: who, what, which, the outcome and the reason. */
export function activityView(): View {
  const list = pagedList<ActivityEntry>(
    async (before) => {
      const page = await get<ActivityPage>(`activity${before ? `?before=${encodeURIComponent(before)}` : ""}`);
      return { available: page.available, items: page.actions, next: page.next };
    },
    ["When", "Who", "Action", "Schedules", "Outcome", "Reason"],
    actionRow,
    "No operator action recorded yet (or all pruned).",
  );
  const root = h(
    "div",
    { class: "view" },
    h("h1", {}, "Activity"),
    h("p", { class: "subtitle" }, "Operator actions from the CLI and this console, newest first, from every replica."),
    h("section", { class: "card" }, list.root),
  );
  return { root, refresh: list.reload, changed: () => {} };
}
