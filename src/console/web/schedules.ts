/// <reference lib="dom" />
/** The schedule list: filtered by state, searched by id or workflow name, in next-run order, paged by cursor. */

import { FILTERS, type Filter, NAME_SHOWN, PAGE_DEFAULT, type Page, type Row } from "../contract.ts";
import { ApiError, get } from "./api.ts";
import { bulkBar } from "./bulk.ts";
import { h, replace, stored } from "./dom.ts";
import { count, relative, utc } from "./format.ts";
import type { View } from "./overview.ts";

/** A list row shows this much of a last error; the schedule's page shows more. */
const ERROR_SHOWN = 300;

export const stateBadge = (row: Row) =>
  h("span", { class: `badge state-${row.state}`, title: row.invalidReason ?? "" }, row.state);

/** Actions are on only with a token (not in read-only mode): then each row can be ticked. */
const canAct = () => document.documentElement.dataset.mode === "token";

function rowOf(row: Row, nowMs: number, selected: Set<number>, changed: () => void): HTMLElement {
  const tick = h("input", {
    type: "checkbox",
    "aria-label": `select schedule ${row.id}`,
    on: {
      change: (event: Event) => {
        if ((event.target as HTMLInputElement).checked) selected.add(row.id);
        else selected.delete(row.id);
        changed();
      },
    },
  }) as HTMLInputElement;
  tick.checked = selected.has(row.id);
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: `#/schedules/${row.id}` }, String(row.id))),
    h(
      "td",
      { class: "name" },
      row.workflowName !== null
        ? stored(row.workflowName, NAME_SHOWN)
        : h("span", { class: "muted" }, `workflow ${row.workflowId} missing`),
    ),
    h("td", {}, stateBadge(row), row.invalidReason && h("div", { class: "reason" }, row.invalidReason)),
    h("td", {}, h("code", {}, row.schedule)),
    h("td", {}, utc(row.nextRunMs), h("div", { class: "muted" }, relative(row.nextRunMs, nowMs))),
    h("td", { class: "num" }, count(row.runCount)),
    h("td", { class: "num" }, count(row.failureCount)),
    h("td", { class: "error-text" }, row.lastError !== null && stored(row.lastError, ERROR_SHOWN)),
    // Last, so the id stays the row's first cell.
    ...(canAct() ? [h("td", {}, tick)] : []),
  );
}

export function schedulesView(params: URLSearchParams): View {
  let filter = (FILTERS as readonly string[]).includes(params.get("state") ?? "")
    ? (params.get("state") as Filter)
    : "all";
  let search = params.get("q") ?? "";
  /** Cursors of the pages before this one (the first is ""), for Previous. */
  const trail: string[] = [];
  let cursor = "";
  let page: Page | null = null;

  const table = h("div", { class: "table-wrap" });
  /** Ticked rows, kept across pages and filters until an action ran. */
  const selected = new Set<number>();
  const bar = bulkBar(selected, () => void load().catch(() => {}));
  const status = h("p", { class: "muted", id: "list-status", role: "status", "aria-live": "polite" });
  const input = h("input", {
    type: "search",
    id: "search",
    name: "q",
    value: search,
    placeholder: "42 or nightly-report",
    autocomplete: "off",
  });
  const filters = h("div", { class: "filters", role: "group", "aria-label": "Filter by state" });
  const prev = h(
    "button",
    { type: "button", class: "secondary", on: { click: () => go(trail.pop() ?? "", false) } },
    "← Previous",
  );
  const next = h(
    "button",
    { type: "button", class: "secondary", on: { click: () => page?.next && go(page.next, true) } },
    "Next →",
  );

  const hash = () => {
    const q = new URLSearchParams();
    if (filter !== "all") q.set("state", filter);
    if (search) q.set("q", search);
    const text = q.toString();
    history.replaceState(null, "", `#/schedules${text ? `?${text}` : ""}`);
  };

  const drawFilters = () =>
    replace(
      filters,
      FILTERS.map((f) =>
        h(
          "button",
          { type: "button", class: "filter", "aria-pressed": String(f === filter), on: { click: () => setFilter(f) } },
          f,
        ),
      ),
    );

  const setFilter = (f: Filter) => {
    filter = f;
    trail.length = 0;
    drawFilters();
    hash();
    void go("", false);
  };

  async function load(): Promise<void> {
    const q = new URLSearchParams({ state: filter, limit: String(PAGE_DEFAULT) });
    if (search) q.set("q", search);
    if (cursor) q.set("after", cursor);
    page = await get<Page>(`schedules?${q}`);
    const nowMs = Date.now();
    replace(
      table,
      page.rows.length === 0
        ? h("p", { class: "empty" }, "No schedule matches.")
        : h(
            "table",
            {},
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                [
                  "ID",
                  "Workflow",
                  "State",
                  "Schedule",
                  "Next run",
                  "Runs",
                  "Failures",
                  "Last error",
                  ...(canAct() ? ["Select"] : []),
                ].map((t) => h("th", { scope: "col" }, t)),
              ),
            ),
            h(
              "tbody",
              {},
              page.rows.map((row) => rowOf(row, nowMs, selected, bar.update)),
            ),
          ),
    );
    const first = trail.length * PAGE_DEFAULT + 1;
    status.className = "muted";
    status.textContent = `${page.rows.length === 0 ? "No rows" : `Rows ${count(first)}–${count(first + page.rows.length - 1)}`}, by next run${page.note ? `; ${page.note}` : ""}`;
    prev.disabled = trail.length === 0;
    next.disabled = page.next === null;
  }

  async function go(to: string, forward: boolean): Promise<void> {
    if (forward) trail.push(cursor);
    cursor = to;
    await shown().catch((error: Error) => {
      status.className = "outcome bad";
      status.textContent = error.message;
    });
  }

  /**
   * Loads the page, or says on the status line why it could not: the filters, the search and the
   * pager stay, to try again. Only a refused token goes further (the page asks for it).
   */
  async function shown(): Promise<void> {
    try {
      await load();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      status.className = "outcome bad";
      status.textContent = error instanceof Error ? error.message : String(error);
      replace(table);
      prev.disabled = trail.length === 0;
      next.disabled = true;
    }
  }

  const form = h(
    "form",
    {
      class: "search",
      role: "search",
      on: {
        submit: (event) => {
          event.preventDefault();
          search = input.value.trim();
          trail.length = 0;
          hash();
          void go("", false);
        },
      },
    },
    h("label", { for: "search" }, "Search by id or workflow name"),
    input,
    h("button", { type: "submit" }, "Search"),
  );
  drawFilters();
  const root = h(
    "div",
    { class: "view" },
    h("h1", {}, "Schedules"),
    h("div", { class: "toolbar" }, filters, form),
    status,
    table,
    h("div", { class: "pager" }, prev, next),
    ...(canAct() ? [bar.root] : []),
  );
  return {
    root,
    refresh: shown,
    // The page shown stays put; only its rows' figures refresh.
    changed: (ids) => {
      if (ids === null || page?.rows.some((row) => ids.includes(row.id))) void load().catch(() => {});
    },
  };
}
