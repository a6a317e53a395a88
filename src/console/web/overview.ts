/// <reference lib="dom" />
/**
 * The overview: this instance, the table's health, this replica's counters and charts, the next
 * ten up. It renders from the first answer (memory and index reads) at once; the table-wide
 * counts scan the table, so they come in a second answer and fill in, "counting…" until then.
 */

import { type Counts, duration, NAME_SHOWN, type NextUp, type Overview } from "../contract.ts";
import { ApiError, get } from "./api.ts";
import { firesChart, lagChart } from "./chart.ts";
import { h, replace, stored } from "./dom.ts";
import { count, relative, utc } from "./format.ts";

export interface View {
  readonly root: HTMLElement;
  refresh(): Promise<void>;
  /** A live change: the ids fired (null: anything may have changed). */
  changed(ids: readonly number[] | null): void;
}

const state = (up: boolean) => h("span", { class: `badge ${up ? "ok" : "bad"}` }, up ? "up" : "down");

function tile(label: string, value: string, tone = "", hint = "", href = ""): HTMLElement {
  const body = [
    h("div", { class: "tile-value" }, value),
    h("div", { class: "tile-label" }, label),
    hint && h("div", { class: "tile-hint" }, hint),
  ];
  return href ? h("a", { class: `tile ${tone}`, href }, body) : h("div", { class: `tile ${tone}` }, body);
}

const COUNTING = "counting…";

/** The Schedules card: the counts when they came, else the index's figures with the counts pending. */
function healthCard(first: NextUp | null, counts: Counts | null, error: string | null): HTMLElement {
  const sc = counts?.schedules ?? null;
  const due = sc ?? first;
  if (!due)
    return h(
      "section",
      { class: "card error", role: "alert" },
      h("h2", {}, "Schedules"),
      h("p", {}, counts?.scheduleError ?? error ?? "unavailable"),
    );
  // A count not read yet is shown as counting, never as a number.
  const number = (pick: (s: NonNullable<Counts["schedules"]>) => number): string => (sc ? count(pick(sc)) : COUNTING);
  const tone = (pick: (s: NonNullable<Counts["schedules"]>) => boolean, name: string): string =>
    sc ? (pick(sc) ? name : "") : "pending";
  return h(
    "section",
    { class: "card", "aria-labelledby": "health-h", "aria-busy": sc ? "false" : "true" },
    h("h2", { id: "health-h" }, "Schedules"),
    counts && !sc && h("p", { class: "outcome bad", role: "alert" }, counts.scheduleError ?? "unavailable"),
    h(
      "div",
      { class: "tiles" },
      tile(
        "due now",
        number((s) => s.dueNow),
        tone((s) => s.dueNow > 0, "warn"),
        "",
        "#/schedules?state=active",
      ),
      tile(
        "oldest overdue",
        due.oldestDue ? duration(due.oldestDue.lateSeconds) : "none",
        due.oldestDue && due.oldestDue.lateSeconds > 60 ? "bad" : "",
        due.oldestDue ? `schedule ${due.oldestDue.id}` : "",
        due.oldestDue ? `#/schedules/${due.oldestDue.id}` : "",
      ),
      tile(
        "overdue",
        number((s) => s.overdue),
        tone((s) => s.overdue > 0, "bad"),
        "",
        "#/schedules?state=overdue",
      ),
      tile(
        "failing",
        number((s) => s.failing),
        tone((s) => s.failing > 0, "bad"),
        "",
        "#/schedules?state=failing",
      ),
      tile(
        "invalid",
        number((s) => s.invalid),
        tone((s) => s.invalid > 0, "warn"),
        "",
        "#/schedules?state=invalid",
      ),
      tile(
        "paused",
        number((s) => s.inactive),
        sc ? "" : "pending",
        sc ? `${count(sc.pausedByScheduler)} by the scheduler` : "",
        "#/schedules?state=paused",
      ),
      tile(
        "total",
        number((s) => s.total),
        sc ? "" : "pending",
        sc ? `${count(sc.active)} active` : "",
        "#/schedules",
      ),
    ),
  );
}

function render(o: Overview, counts: Counts | null): HTMLElement[] {
  const i = o.instance;
  // Once the counts came, the card and the next ten are theirs: one snapshot, figures that agree.
  const sc = counts?.schedules ?? o.schedules;
  const c = o.counters;
  const instance = h(
    "section",
    { class: "card", "aria-labelledby": "instance-h" },
    h("h2", { id: "instance-h" }, "This instance"),
    h(
      "div",
      { class: "ready-line" },
      h("span", { class: `badge big ${i.ready ? "ok" : "bad"}` }, i.ready ? "Ready" : "Not ready"),
      !i.ready && h("span", { class: "reason" }, i.readyReason),
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Version"),
      h("dd", {}, i.version),
      h("dt", {}, "Up for"),
      h("dd", {}, duration(i.uptimeSeconds), h("span", { class: "muted" }, ` since ${utc(i.startedMs)}`)),
      h("dt", {}, "PostgreSQL"),
      h(
        "dd",
        {},
        i.database.hosts.map((host) => h("div", { class: "node" }, h("code", {}, host), " ", state(i.database.up))),
      ),
      h("dt", {}, "RabbitMQ"),
      h(
        "dd",
        {},
        i.broker.nodes.map((node) => h("div", { class: "node" }, h("code", {}, node), " ", state(i.broker.up))),
      ),
      h("dt", {}, "Queue"),
      h("dd", {}, h("code", {}, i.queue)),
      i.tls.length > 0 && h("dt", {}, "TLS"),
      i.tls.length > 0 &&
        h(
          "dd",
          {},
          i.tls.map((t) =>
            h("div", { class: "node" }, h("code", {}, t.host), " ", h("span", { class: "muted" }, t.summary)),
          ),
        ),
    ),
  );
  const health = healthCard(o.schedules, counts, o.scheduleError);
  const counters = h(
    "section",
    { class: "card", "aria-labelledby": "counters-h" },
    h("h2", { id: "counters-h" }, "This replica since it started"),
    h(
      "div",
      { class: "tiles small" },
      (
        [
          ["executions", "fires"],
          ["failures", "failed fires"],
          ["skipped", "skipped"],
          ["missed", "missed slots"],
          ["paused", "auto-paused"],
          ["unknown", "unknown outcome"],
          ["checks", "polls"],
        ] as const
      ).map(([key, label]) =>
        tile(
          label,
          count(Number(c[key] ?? 0)),
          (key === "failures" || key === "unknown") && Number(c[key]) > 0 ? "bad" : "",
        ),
      ),
      tile("last fire", c.lastExecutionMs ? relative(c.lastExecutionMs, o.nowMs) : "never"),
      tile("last poll", c.lastCheckMs ? relative(c.lastCheckMs, o.nowMs) : "never"),
    ),
  );
  const charts = h(
    "section",
    { class: "card", "aria-labelledby": "charts-h" },
    h("h2", { id: "charts-h" }, "Last hour, this replica"),
    h(
      "div",
      { class: "charts" },
      h("figure", {}, h("figcaption", {}, "Fires per minute"), firesChart(o.series)),
      h(
        "figure",
        {},
        h(
          "figcaption",
          {},
          "Lag ",
          h("span", { class: "key p50" }, "p50"),
          " ",
          h("span", { class: "key p99" }, "p99"),
        ),
        lagChart(o.series),
      ),
    ),
  );
  const next = sc
    ? h(
        "section",
        { class: "card", "aria-labelledby": "next-h" },
        h("h2", { id: "next-h" }, "Next ten up"),
        sc.upcoming.length === 0
          ? h("p", { class: "muted" }, "Nothing is scheduled.")
          : h(
              "div",
              { class: "table-scroll" },
              h(
                "table",
                {},
                h(
                  "thead",
                  {},
                  h(
                    "tr",
                    {},
                    ["ID", "Workflow", "Schedule", "Due"].map((t) => h("th", { scope: "col" }, t)),
                  ),
                ),
                h(
                  "tbody",
                  {},
                  sc.upcoming.map((row) =>
                    h(
                      "tr",
                      {},
                      h("td", {}, h("a", { href: `#/schedules/${row.id}` }, String(row.id))),
                      h("td", { class: "name" }, stored(row.workflowName, NAME_SHOWN)),
                      h("td", {}, h("code", {}, row.schedule)),
                      h(
                        "td",
                        {},
                        utc(row.slotMs),
                        h("span", { class: "muted" }, ` ${relative(row.slotMs, sc.dbNowMs)}`),
                      ),
                    ),
                  ),
                ),
              ),
            ),
      )
    : null;
  return [h("h1", {}, "Overview"), h("div", { class: "grid2" }, instance, health), counters, charts, next].filter(
    Boolean,
  ) as HTMLElement[];
}

/** `early`: the first answer, when it was asked for before the view was made. */
export function overviewView(early: Promise<Overview> | null = null): View {
  const root = h("div", { class: "view" }, h("p", { class: "muted" }, "Loading…"));
  let first: Overview | null = null;
  let counts: Counts | null = null;
  // Refreshes overlap (live changes): an answer older than the one shown is dropped.
  let asked = 0;
  let firstShown = 0;
  let countsShown = 0;
  const refresh = async () => {
    const mine = ++asked;
    const answer = await (mine === 1 && early ? early : get<Overview>("overview"));
    if (mine > firstShown) {
      firstShown = mine;
      first = answer;
      replace(root, render(answer, counts));
    }
    let read: Counts;
    try {
      read = await get<Counts>("overview/counts");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      read = { schedules: null, scheduleError: error instanceof Error ? error.message : String(error) };
    }
    if (mine > countsShown && first) {
      countsShown = mine;
      counts = read;
      replace(root, render(first, counts));
    }
  };
  return { root, refresh, changed: () => void refresh().catch(() => {}) };
}
