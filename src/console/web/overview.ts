/// <reference lib="dom" />
/** The overview: this instance, the table's health, this replica's counters and charts, the next ten up. */
import { get } from "./api.ts";
import { firesChart, lagChart } from "./chart.ts";
import { h, replace } from "./dom.ts";
import { count, duration, relative, utc } from "./format.ts";
import type { Overview } from "./types.ts";

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

function render(o: Overview): HTMLElement[] {
  const i = o.instance;
  const sc = o.schedules;
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
    ),
  );
  const health = sc
    ? h(
        "section",
        { class: "card", "aria-labelledby": "health-h" },
        h("h2", { id: "health-h" }, "Schedules"),
        h(
          "div",
          { class: "tiles" },
          tile("due now", count(sc.dueNow), sc.dueNow > 0 ? "warn" : "", "", "#/schedules?state=active"),
          tile(
            "oldest overdue",
            sc.oldestDue ? duration(sc.oldestDue.lateSeconds) : "none",
            sc.oldestDue && sc.oldestDue.lateSeconds > 60 ? "bad" : "",
            sc.oldestDue ? `schedule ${sc.oldestDue.id}` : "",
            sc.oldestDue ? `#/schedules/${sc.oldestDue.id}` : "",
          ),
          tile("overdue", count(sc.overdue), sc.overdue > 0 ? "bad" : "", "", "#/schedules?state=overdue"),
          tile("failing", count(sc.failing), sc.failing > 0 ? "bad" : "", "", "#/schedules?state=failing"),
          tile("invalid", count(sc.invalid), sc.invalid > 0 ? "warn" : "", "", "#/schedules?state=invalid"),
          tile(
            "paused",
            count(sc.inactive),
            "",
            `${count(sc.pausedByScheduler)} by the scheduler`,
            "#/schedules?state=paused",
          ),
          tile("total", count(sc.total), "", `${count(sc.active)} active`, "#/schedules"),
        ),
      )
    : h(
        "section",
        { class: "card error", role: "alert" },
        h("h2", {}, "Schedules"),
        h("p", {}, o.scheduleError ?? "unavailable"),
      );
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
                    h("td", { class: "name" }, row.workflowName),
                    h("td", {}, h("code", {}, row.schedule)),
                    h("td", {}, utc(row.slotMs), h("span", { class: "muted" }, ` ${relative(row.slotMs, sc.dbNowMs)}`)),
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

export function overviewView(): View {
  const root = h("div", { class: "view" }, h("p", { class: "muted" }, "Loading…"));
  const refresh = async () => {
    replace(root, render(await get<Overview>("overview")));
  };
  return { root, refresh, changed: () => void refresh().catch(() => {}) };
}
