/**
 * scripts/deploy/grafana/rune-scheduler.json names only metrics the running binary exposes.
 * Every PromQL expression of the dashboard (panel targets and template variable queries) is
 * parsed with the Prometheus project's own grammar (@prometheus-io/lezer-promql); every metric
 * a selector names must be a series the compiled binary serves on /metrics once it has fired,
 * against the real PostgreSQL and RabbitMQ. Histogram series are matched by their full names
 * (`_bucket`, `_sum`, `_count`): a query on the bare family name would find nothing.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { freePort } from "../support/ports.ts";
import { type Exposition, parseExposition } from "../support/prometheus.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const FILE = resolve(import.meta.dir, "../../scripts/deploy/grafana/rune-scheduler.json");

interface Target {
  expr?: string;
  refId: string;
}
interface Panel {
  title: string;
  type: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(FILE, "utf8")) as Dashboard;

/** Every PromQL expression in the dashboard, with where it is. */
function expressions(): { where: string; expr: string }[] {
  const found: { where: string; expr: string }[] = [];
  const walk = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        if (target.expr) found.push({ where: `${panel.title} ${target.refId}`, expr: target.expr });
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const variable of dashboard.templating.list.filter((v) => v.type === "query")) {
    const query = typeof variable.query === "string" ? variable.query : variable.query!.query;
    // label_values(<selector>, label) is Grafana's, not PromQL: its first argument is a selector.
    const selector = /^label_values\((.+),\s*\w+\)$/.exec(query)?.[1] ?? query;
    found.push({ where: `variable $${variable.name}`, expr: selector });
  }
  return found;
}

/** Grafana's built-in range variables, as Grafana substitutes them before PromQL sees them. */
function interpolate(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, "5m");
}

/** The metric names `expr` selects, or a parse error naming where it failed. */
function metricNames(expr: string): { names: string[]; error: string | null } {
  const text = interpolate(expr);
  const names: string[] = [];
  let error: string | null = null;
  const cursor = parser.parse(text).cursor();
  do {
    if (cursor.type.isError)
      error ??= `syntax error at ${cursor.from}: ${JSON.stringify(text.slice(Math.max(0, cursor.from - 20), cursor.from + 20))}`;
    if (cursor.name !== "VectorSelector") continue;
    const selector = cursor.node;
    const identifier = selector.getChild("Identifier");
    if (identifier) names.push(text.slice(identifier.from, identifier.to));
    // {__name__="…"} names a metric too.
    for (const matcher of selector.getChild("LabelMatchers")?.getChildren("UnquotedLabelMatcher") ?? []) {
      const label = matcher.getChild("LabelName");
      const value = matcher.getChild("StringLiteral");
      if (label && value && text.slice(label.from, label.to) === "__name__")
        names.push(JSON.parse(text.slice(value.from, value.to)));
    }
  } while (cursor.next());
  return { names, error };
}

describe("metricNames", () => {
  test("finds every selector's metric, in functions, aggregations, binary operators and {__name__=…}", () => {
    expect(
      metricNames(
        'histogram_quantile(0.9, sum by (le) (rate(a_bucket{job=~"$job"}[$__rate_interval]))) / b + time() - max(c offset 5m) + {__name__="d"}',
      ),
    ).toEqual({
      names: ["a_bucket", "b", "c", "d"],
      error: null,
    });
  });

  test("reports a query that does not parse", () => {
    expect(metricNames("sum(rate(a[5m])").error).toMatch(/^syntax error/);
  });
});

describe("scripts/deploy/grafana/rune-scheduler.json", () => {
  // Strict: the scheduler's clean stop below is part of what this block checks.
  const scope = sharedScope({ strictCleanup: true });
  let exposition: Exposition;

  beforeAll(async () => {
    const { db, queue } = await scope.setup({ consume: true });
    const [id] = await insertSchedules(db.sql, [{ dueInMs: -1_000, intervalSeconds: 3600, name: "grafana" }]);
    const port = await freePort();
    const scheduler = scope.start({
      ...db.env,
      ...queue.env,
      SCHEDULER_HTTP_PORT: String(port),
      SCHEDULER_POLL_INTERVAL: "1",
    });
    scope.defer(async () => expect(await scheduler.stop()).toBe(0));
    // After a fire every family has its series, the histogram's buckets included.
    await waitFor("the fire", () => queue.messages.find((m) => m.body.schedule_id === id), 30_000);
    const text = await waitFor("a scrape that counts the fire", async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /^rune_scheduler_executions_total [1-9]/m.test(body) ? body : null;
    });
    exposition = parseExposition(text);
  }, 60_000);

  test("is a dashboard with panels and a stable uid", () => {
    expect(dashboard.uid).toBe("rune-scheduler");
    expect(expressions().length).toBeGreaterThan(15);
  });

  test("every query parses as PromQL", () => {
    expect(
      expressions()
        .map(({ where, expr }) => ({ where, error: metricNames(expr).error }))
        .filter((q) => q.error),
    ).toEqual([]);
  });

  test("every metric a query names is a series the running binary exposes", () => {
    expect(exposition.problems).toEqual([]);
    const served = new Set(
      [...exposition.families.values()].flatMap((family) => family.samples.map((sample) => sample.name)),
    );
    const named = expressions().flatMap(({ where, expr }) => metricNames(expr).names.map((name) => ({ where, name })));
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter(({ name }) => !served.has(name))).toEqual([]);
  });

  test("shows every metric the binary exposes somewhere", () => {
    const named = new Set(expressions().flatMap(({ expr }) => metricNames(expr).names));
    const shown = (family: string) =>
      [family, `${family}_bucket`, `${family}_sum`, `${family}_count`].some((name) => named.has(name));
    expect([...exposition.families.keys()].filter((family) => !shown(family))).toEqual([]);
  });
});
