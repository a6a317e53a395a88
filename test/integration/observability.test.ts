import { beforeAll, describe, expect, test } from "bun:test";
import type postgres from "postgres";
import { pauseReason } from "../../src/schedule/slots.ts";
import { runBinary } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, type TestQueue, waitFor } from "../support/services.ts";

const scope = sharedScope();
/** The database the running scheduler fires from. */
let db: TestDatabase;
/** A database with every kind of row and no scheduler on it, so its counts hold still. */
let seeded: TestDatabase;
let queue: TestQueue;
let base: string;

function serve(fetch: () => Response | Promise<Response>): string {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch });
  scope.defer(() => server.stop(true));
  return `http://127.0.0.1:${server.port}`;
}

const metricsNow = async () => parseExposition(await (await fetch(`${base}/metrics`)).text());
const withoutPort = (text: string) => text.replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT");

beforeAll(async () => {
  [db, seeded, queue] = await Promise.all([scope.database(), scope.database(), scope.queue()]);
  await queue.consume();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    SCHEDULER_POLL_INTERVAL: "1",
    SCHEDULER_HTTP_PORT: String(port),
  });
  await scheduler.waitForLine(/HTTP health and metrics on/);
  await waitFor("the scheduler to be ready", async () => (await fetch(`${base}/readyz`)).status === 200);
});

describe("HTTP endpoints of a running scheduler", () => {
  test("answers /healthz and /readyz 200 once connected", async () => {
    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, "ok\n"]);
    const ready = await fetch(`${base}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([200, "ok\n"]);
  });

  test("serves valid metrics, and executions_total moves after a due row fires", async () => {
    const before = await metricsNow();
    expect(before.problems).toEqual([]);
    expect(sampleValue(before, "rune_scheduler_database_up")).toBe(1);
    expect(sampleValue(before, "rune_scheduler_broker_up")).toBe(1);
    const executions = sampleValue(before, "rune_scheduler_executions_total")!;
    const fires = sampleValue(before, "rune_scheduler_fire_lag_seconds_count")!;

    await insertSchedules(db.sql, [{ dueInMs: -500, intervalSeconds: 3600, name: "metrics-probe" }]);
    await waitFor("the message", () => queue.messages.length > 0);
    const after = await waitFor("executions_total to move", async () => {
      const exposition = await metricsNow();
      return sampleValue(exposition, "rune_scheduler_executions_total") === executions + 1 ? exposition : null;
    });
    expect(after.problems).toEqual([]);
    expect(sampleValue(after, "rune_scheduler_fire_lag_seconds_count")).toBe(fires + 1);
    expect(sampleValue(after, "rune_scheduler_checks_total")).toBeGreaterThan(0);
    expect(sampleValue(after, "rune_scheduler_last_execution_timestamp_seconds")).toBeGreaterThan(0);
  });

  test("serves /stats as JSON with the live counters", async () => {
    const response = await fetch(`${base}/stats`);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toMatchObject({
      dbUp: true,
      mqUp: true,
      checks: expect.any(Number),
      executions: expect.any(Number),
    });
  });

  test("answers HEAD without a body, refuses POST with 405, and unknown paths with 404", async () => {
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    expect([head.status, await head.text()]).toEqual([200, ""]);
    expect((await fetch(`${base}/healthz`, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

/** One row of every kind `stats` tells apart, by kind. */
const KINDS = {
  upcomingA: { dueInMs: 600_000, intervalSeconds: 60, name: "upcoming-a" },
  upcomingB: { dueInMs: 1_200_000, intervalSeconds: 60, name: "upcoming-b" },
  due: { dueInMs: -5_000, intervalSeconds: 60, name: "due" },
  overdue: { dueInMs: -3_600_000, intervalSeconds: 60, name: "overdue" },
  failing: { dueInMs: 300_000, intervalSeconds: 60, name: "failing" },
  paused: { dueInMs: 300_000, intervalSeconds: 60, name: "paused" },
  inactive: { dueInMs: 300_000, intervalSeconds: 60, name: "inactive" },
  switchedOff: { dueInMs: 300_000, intervalSeconds: 60, name: "switched-off" },
  intervalNull: { dueInMs: 60_000, intervalSeconds: 60, name: "interval-null" },
  intervalZero: { dueInMs: -60_000, intervalSeconds: 0, name: "interval-zero" },
  intervalNegative: { dueInMs: -60_000, intervalSeconds: -5, name: "interval-negative" },
  nextNull: { dueInMs: 60_000, intervalSeconds: 60, name: "next-null" },
};

/** Seeds KINDS, then makes each row the kind it is named after; returns their ids by kind. */
async function seedEveryKind(sql: postgres.Sql) {
  const inserted = await insertSchedules(sql, Object.values(KINDS));
  const id = Object.fromEntries(Object.keys(KINDS).map((kind, i) => [kind, inserted[i]!])) as Record<
    keyof typeof KINDS,
    number
  >;
  await sql`UPDATE scheduled_workflows SET failure_count = 3, last_error = 'broker nacked the message' WHERE id = ${id.failing}`;
  await sql`UPDATE scheduled_workflows SET is_active = false, failure_count = 5,
              last_error = ${pauseReason(5, "broker nacked the message")} WHERE id = ${id.paused}`;
  await sql`UPDATE scheduled_workflows SET is_active = false WHERE id = ${id.inactive}`;
  // Mentions the prefix but does not start with it: switched off by a person, not paused by us.
  await sql`UPDATE scheduled_workflows SET is_active = false, last_error = 'by hand, not paused by rune-scheduler' WHERE id = ${id.switchedOff}`;
  await sql`UPDATE scheduled_workflows SET interval_seconds = NULL WHERE id = ${id.intervalNull}`;
  await sql`UPDATE scheduled_workflows SET next_run_at = NULL WHERE id = ${id.nextNull}`;
  const orphans = await sql<{ id: number }[]>`
    INSERT INTO scheduled_workflows (workflow_id, is_active, next_run_at, interval_seconds)
    VALUES (999999, true, now() AT TIME ZONE 'UTC' - interval '1 hour', 60),
           (999998, false, now() AT TIME ZONE 'UTC', 60)
    RETURNING id`;
  return { ...id, orphans: orphans.map((r) => r.id) };
}

describe("stats", () => {
  let ids: Awaited<ReturnType<typeof seedEveryKind>>;
  beforeAll(async () => {
    ids = await seedEveryKind(seeded.sql);
  });

  test("--json counts every kind of row and includes a running instance's counters", async () => {
    const result = await runBinary(["stats", "--json", "--url", base], {
      ...seeded.env,
      SCHEDULER_POLL_INTERVAL: "30",
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      ok: true,
      where: `postgres@127.0.0.1:5432/${seeded.name}`,
      overdueAfterSeconds: 30,
    });
    expect(report.schedules.counts).toEqual({
      total: 14,
      active: 10,
      inactive: 4,
      dueNow: 2,
      overdue: 1,
      failing: 2,
      paused: 1,
      pausedByOperator: 0,
      workflowMissing: 2,
      invalid: {
        "workflow missing": 1,
        "interval_seconds is NULL": 1,
        "interval_seconds <= 0": 2,
        "next_run_at is NULL": 1,
        "next_run_at is not finite": 0,
      },
    });
    expect(report.schedules.oldestDue.id).toBe(ids.overdue);
    expect(report.schedules.oldestDue.lateSeconds).toBeGreaterThanOrEqual(3600);
    expect(report.schedules.oldestDue.lateSeconds).toBeLessThan(3660);
    // Longest failing first: 5 fires × 60 s before 3 × 60 s.
    expect(report.schedules.failing.map((r: { id: number }) => r.id)).toEqual([ids.paused, ids.failing]);
    expect(report.schedules.failing[1]).toMatchObject({
      failureCount: 3,
      isActive: true,
      lastError: "broker nacked the message",
      workflowName: "failing",
    });
    expect(report.schedules.upcoming.map((r: { id: number }) => r.id)).toEqual([
      ids.failing,
      ids.upcomingA,
      ids.upcomingB,
    ]);
    expect(report.schedules.workflowMissing).toEqual([
      { id: ids.orphans[0], workflowId: 999999, isActive: true },
      { id: ids.orphans[1], workflowId: 999998, isActive: false },
    ]);
    expect(report.live).toMatchObject({ url: base, answered: true, stats: { dbUp: true, mqUp: true } });
    expect(report.live.stats.checks).toBeGreaterThan(0);
  });

  test("prints a table, and says when no running instance answered", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await runBinary(["stats", "--url", url], seeded.env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Schedules in postgres@127.0.0.1:5432/${seeded.name} at `);
    expect(result.stdout).toMatch(/^ {2}overdue > 30s {8}1 {2}\(oldest: #\d+, due \S+Z, 1h late\)$/m);
    expect(result.stdout).toMatch(/^ {2}paused by scheduler {2}1$/m);
    expect(result.stdout).toMatch(/^ {4}interval_seconds <= 0: 2$/m);
    expect(result.stdout).toContain("Failing longest\n  id");
    expect(result.stdout).toContain("Next up\n  id");
    expect(withoutPort(result.stdout)).toEndWith(
      "Live counters: no running instance answered at http://127.0.0.1:PORT (connection refused)\n",
    );
  });

  test("does not ask for live counters when the HTTP server is off and no --url is given", async () => {
    const result = await runBinary(["stats", "--json"], { ...seeded.env, SCHEDULER_HTTP_PORT: "0" });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).live).toEqual({
      url: null,
      answered: false,
      reason: "SCHEDULER_HTTP_PORT=0 and no --url: not asking a running instance",
    });
  });

  test("exits 1 with one explained line when the database is unreachable", async () => {
    const port = String(await freePort());
    const result = await runBinary(["stats"], { ...seeded.env, POSTGRES_PORT: port });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(withoutPort(result.stderr).replace(`POSTGRES_PORT=${port}`, "POSTGRES_PORT=PORT")).toMatchInlineSnapshot(`
      "FAILED PostgreSQL refused the connection at 127.0.0.1:PORT; is it running and listening there? check POSTGRES_HOST/POSTGRES_PORT; in effect: POSTGRES_HOST=127.0.0.1, POSTGRES_PORT=PORT (from the environment)
      "
    `);
    const json = await runBinary(["stats", "--json"], { ...seeded.env, POSTGRES_PORT: port });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      error: expect.stringContaining("refused the connection"),
    });
  });

  test("exits 2 on a bad configuration value or a bad --url, before connecting", async () => {
    const badValue = await runBinary(["stats"], { ...seeded.env, SCHEDULER_POLL_INTERVAL: "soon" });
    expect([badValue.code, badValue.stderr]).toEqual([
      2,
      'rune-scheduler: configuration error: SCHEDULER_POLL_INTERVAL="soon" is invalid: expected a number of seconds from 0.001 to 2147483.647\n',
    ]);
    const badUrl = await runBinary(["stats", "--url", "localhost:8080"], seeded.env);
    expect([badUrl.code, badUrl.stderr]).toEqual([
      2,
      'rune-scheduler: configuration error: --url "localhost:8080" is invalid: expected http://host:port\n',
    ]);
  });
});

describe("healthcheck", () => {
  test("exits 0 while the scheduler is healthy, probing loopback for a wildcard host, past any HTTP_PROXY", async () => {
    const port = new URL(base).port;
    const result = await runBinary(["healthcheck"], {
      SCHEDULER_HTTP_HOST: "0.0.0.0",
      SCHEDULER_HTTP_PORT: port,
      HTTP_PROXY: "http://127.0.0.1:9",
      http_proxy: "http://127.0.0.1:9",
    });
    expect([result.code, withoutPort(result.stdout), result.stderr]).toEqual([
      0,
      "healthy: http://127.0.0.1:PORT/healthz answered 200 ok\n",
      "",
    ]);
    expect((await runBinary(["healthcheck", "--url", base], {})).code).toBe(0);
  });

  test("exits 1 when nothing is listening", async () => {
    const result = await runBinary(["healthcheck", "--url", `http://127.0.0.1:${await freePort()}`], {});
    expect([result.code, withoutPort(result.stderr)]).toEqual([
      1,
      "unhealthy: no answer from http://127.0.0.1:PORT/healthz: connection refused\n",
    ]);
  });

  test("exits 1 with the server's reason when /healthz answers 503", async () => {
    const url = serve(() => new Response("engine loop has not run for 200s\n", { status: 503 }));
    const result = await runBinary(["healthcheck", "--url", url], {});
    expect([result.code, withoutPort(result.stderr)]).toEqual([
      1,
      "unhealthy: http://127.0.0.1:PORT/healthz answered 503: engine loop has not run for 200s\n",
    ]);
  });

  test("exits 1 within its 2.5 s deadline when /healthz never answers", async () => {
    const url = serve(() => new Promise<Response>(() => {}));
    const started = performance.now();
    const result = await runBinary(["healthcheck", "--url", url], {});
    // The deadline itself is pinned by the message below; the bound leaves room for starting and
    // ending the binary on a loaded machine, and still fails a probe that waits for ever.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect([result.code, withoutPort(result.stderr)]).toEqual([
      1,
      "unhealthy: no answer from http://127.0.0.1:PORT/healthz: timed out after 2.5s\n",
    ]);
  });

  test("exits 1, never Docker's reserved 2, when there is nothing to probe or the config is bad", async () => {
    const off = await runBinary(["healthcheck"], { SCHEDULER_HTTP_PORT: "0" });
    expect([off.code, off.stderr]).toEqual([
      1,
      "unhealthy: SCHEDULER_HTTP_PORT=0 turns the HTTP server off, so there is nothing to ask; enable it or pass --url\n",
    ]);
    const bad = await runBinary(["healthcheck"], { SCHEDULER_HTTP_PORT: "eighty" });
    expect([bad.code, bad.stderr]).toEqual([
      1,
      'unhealthy: configuration error: SCHEDULER_HTTP_PORT="eighty" is invalid: expected a whole number from 0 to 65535\n',
    ]);
  });
});
