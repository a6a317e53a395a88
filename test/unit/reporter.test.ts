/** The reporter alone: an engine event in, the log line of docs/observability.md §1 and counters out. No engine, no I/O. */
import { describe, expect, test } from "bun:test";
import { DependencyError } from "../../src/engine/dependency.ts";
import type { EngineStatus } from "../../src/engine/events.ts";
import { emptyTally } from "../../src/engine/fire.ts";
import { createLogger, type LogSink } from "../../src/observe/log.ts";
import { createMetrics } from "../../src/observe/metrics.ts";
import { createReporter } from "../../src/observe/reporter.ts";

function setup() {
  const lines: string[] = [];
  const sink: LogSink = { stdout: (line) => lines.push(line), stderr: (line) => lines.push(line) };
  const log = createLogger({ level: "DEBUG", format: "text", sink });
  const metrics = createMetrics(0);
  const report = createReporter({
    log,
    metrics,
    where: { PostgreSQL: "postgres@db:5432/rune", RabbitMQ: "amqp://guest:***@mq:5672" },
    explain: (dependency, error, where) =>
      `${dependency} explains${where === null ? "" : ` at ${where}`}: ${(error as Error).message}`,
  });
  // Strip the timestamp: "2026-… LEVEL text" → "LEVEL text".
  const said = () => lines.map((line) => line.trimEnd().replace(/^\S+ /, ""));
  return { report, metrics, said };
}

const STATUS: EngineStatus = {
  database: "up",
  broker: "up",
  failures: 0,
  failing: null,
  outageSinceLocal: null,
  lastProgressLocal: 0,
  tableLocked: false,
  blockedBy: null,
};

describe("reporter", () => {
  test("connected: the two lines operators grep for, naming the server or node in use", () => {
    const { report, said } = setup();
    report({ type: "connected", dependency: "PostgreSQL", where: "10.0.0.5:5432" });
    report({ type: "connected", dependency: "RabbitMQ", where: "amqp://guest:***@mq-2:5672" });
    expect(said()).toEqual([
      "INFO Database connection pool established where=10.0.0.5:5432",
      "INFO RabbitMQ connection established where=amqp://guest:***@mq-2:5672",
    ]);
  });

  test("connected, from a link that cannot say where: the configured list", () => {
    const { report, said } = setup();
    report({ type: "connected", dependency: "PostgreSQL" });
    expect(said()).toEqual(["INFO Database connection pool established where=postgres@db:5432/rune"]);
  });

  test("link lost: names the node the link was on, not the whole list", () => {
    const { report, said } = setup();
    report({ type: "link lost", reason: "heartbeat timeout", where: "amqp://guest:***@mq-3:5672" });
    expect(said()).toEqual([
      'ERROR RabbitMQ connection lost; reconnecting reason="heartbeat timeout" where=amqp://guest:***@mq-3:5672',
    ]);
  });

  test("status mirrors into the *_up gauges without a line", () => {
    const { report, metrics, said } = setup();
    report({ type: "status", status: { ...STATUS, broker: "blocked" } });
    expect([metrics.dbUp, metrics.mqUp]).toEqual([true, false]);
    expect(said()).toEqual([]);
  });

  test("outage began: HEALTHCHECK FAILED with each dependency's state", () => {
    const { report, said } = setup();
    report({ type: "outage began", status: { ...STATUS, database: "down" } });
    expect(said()).toEqual(["ERROR HEALTHCHECK FAILED | DB: down | MQ: up"]);
  });

  test("outage began before RabbitMQ was tried: it says so instead of calling it down", () => {
    const { report, said } = setup();
    const down = { ...STATUS, database: "down", broker: "down" } as const;
    report({ type: "outage began", status: down });
    report({ type: "connected", dependency: "PostgreSQL" });
    report({ type: "outage began", status: { ...down, database: "up" } });
    expect(said()).toEqual([
      "ERROR HEALTHCHECK FAILED | DB: down | MQ: not tried yet",
      "INFO Database connection pool established where=postgres@db:5432/rune",
      "ERROR HEALTHCHECK FAILED | DB: up | MQ: down",
    ]);
  });

  test("gave up: the stop reason names the dependency, why, and the explained cause", () => {
    const { report, said } = setup();
    const reporter = report as ReturnType<typeof createReporter>;
    expect(reporter.stopReason()).toBeNull();
    const error = new DependencyError("RabbitMQ", "connecting", new Error("403 (ACCESS-REFUSED)"));
    report({
      type: "gave up",
      dependency: "RabbitMQ",
      why: "refused for good at start-up; fix the configuration",
      error,
    });
    expect(reporter.stopReason()).toBe(
      "RabbitMQ refused for good at start-up; fix the configuration: connecting: RabbitMQ explains: 403 (ACCESS-REFUSED)",
    );
    expect(said()).toHaveLength(1);
  });

  test("retrying: attempt, limit only at start-up, when the next report comes, where, and the explained cause", () => {
    const { report, said } = setup();
    const error = new DependencyError("PostgreSQL", "polling", new Error("connection refused"));
    report({ type: "retrying", dependency: "PostgreSQL", attempt: 2, limit: 5, nextReportMs: 1_500, error });
    report({ type: "retrying", dependency: "PostgreSQL", attempt: 9, limit: null, nextReportMs: 30_000, error });
    expect(said()).toEqual([
      'ERROR PostgreSQL failed (attempt 2/5); retrying every second, next report in 1.5s where=postgres@db:5432/rune error="polling: PostgreSQL explains: connection refused"',
      'ERROR PostgreSQL failed (attempt 9); retrying every second, next report in 30.0s where=postgres@db:5432/rune error="polling: PostgreSQL explains: connection refused"',
    ]);
  });

  test("retrying after a failure on one node: that node, in the line and in the explanation", () => {
    const { report, said } = setup();
    const error = new DependencyError(
      "RabbitMQ",
      "publishing",
      new Error("interrupted: no confirm"),
      false,
      false,
      "amqp://guest:***@mq-2:5672",
    );
    report({ type: "retrying", dependency: "RabbitMQ", attempt: 1, limit: null, nextReportMs: 1_000, error });
    expect(said()).toEqual([
      'ERROR RabbitMQ failed (attempt 1); retrying every second, next report in 1.0s where=amqp://guest:***@mq-2:5672 error="publishing: RabbitMQ explains at amqp://guest:***@mq-2:5672: interrupted: no confirm"',
    ]);
  });

  test("gave up: one CRITICAL line naming the dependency, why, and where", () => {
    const { report, said } = setup();
    const error = new DependencyError("RabbitMQ", "connecting", new Error("ECONNREFUSED"));
    report({ type: "gave up", dependency: "RabbitMQ", why: "unavailable for 61.0s (SCHEDULER_MAX_OUTAGE=60)", error });
    expect(said()).toEqual([
      'CRITICAL RabbitMQ unavailable for 61.0s (SCHEDULER_MAX_OUTAGE=60); giving up where=amqp://guest:***@mq:5672 error="connecting: RabbitMQ explains: ECONNREFUSED"',
    ]);
  });

  test("recovered, link lost, blocked (named, with reminders), unblocked, queue declared again, table locked and unlocked", () => {
    const { report, said } = setup();
    report({ type: "link lost", reason: "connection error: Heartbeat timeout" });
    report({ type: "recovered", failures: 3, outageMs: 12_340 });
    const by = { reason: "memory alarm", where: "amqp://guest:***@mq-2:5672" };
    report({ type: "blocked", by });
    report({ type: "still blocked", by, forMs: 30_000 });
    report({ type: "unblocked", afterMs: 2_000 });
    report({ type: "queue redeclared", reason: 'queue "q" was missing (312 NO_ROUTE) and has been declared again' });
    report({ type: "table locked", doing: "claiming due schedules" });
    report({ type: "table unlocked", afterMs: 20_050 });
    expect(said()).toEqual([
      'ERROR RabbitMQ connection lost; reconnecting reason="connection error: Heartbeat timeout" where=amqp://guest:***@mq:5672',
      "INFO Recovered after 3 failed attempt(s) (12.3s)",
      "WARNING RabbitMQ node amqp://guest:***@mq-2:5672 blocks publishing: memory alarm; not claiming until it lifts",
      "WARNING RabbitMQ node amqp://guest:***@mq-2:5672 blocks publishing: memory alarm for 30.0s now; still not claiming",
      "INFO RabbitMQ unblocked after 2.0s; claiming again",
      'WARNING RabbitMQ queue "q" was missing (312 NO_ROUTE) and has been declared again: messages that were ready in it when it went are gone, although their schedules were recorded as fired; this batch fires again',
      'WARNING scheduled_workflows is locked by another session (a CREATE INDEX without CONCURRENTLY, an ALTER TABLE?); nothing is claimed or published until it is released waiting_on="claiming due schedules"',
      "INFO scheduled_workflows is no longer locked after 20.1s; claiming again",
    ]);
  });

  test("polled: the poll-time gauges, and no line", () => {
    const { report, metrics, said } = setup();
    report({ type: "polled", result: { dbNowMs: 10_000, nextSlotMs: 7_500, dueCount: 4 } });
    expect(metrics).toMatchObject({ checks: 1, lastCheckMs: 10_000, dueBacklog: 4, oldestOverdueSeconds: 2.5 });
    report({ type: "polled", result: { dbNowMs: 11_000, nextSlotMs: 20_000, dueCount: 0 } });
    expect(metrics).toMatchObject({ checks: 2, oldestOverdueSeconds: 0 });
    expect(said()).toEqual([]);
  });

  test("batch committed: counters, one INFO line for the batch, a DEBUG line per fire, a WARNING for failures", () => {
    const { report, metrics, said } = setup();
    const tally = emptyTally();
    tally.executions = 2;
    tally.failures = 1;
    tally.missed = 3;
    tally.firedAtMs = 1_796_000_000_000;
    tally.confirmed.push(
      {
        id: 42,
        messageId: "42:1795999999990",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        slotMs: 1_795_999_999_990,
        lagSeconds: 0.01,
      },
      {
        id: 43,
        messageId: "43:1795999999960",
        traceparent: "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01",
        slotMs: 1_795_999_999_960,
        lagSeconds: 0.04,
      },
    );
    tally.failed.push("schedule 44: nacked by the broker");
    report({ type: "batch committed", tally });
    expect(metrics).toMatchObject({ executions: 2, failures: 1, missed: 3, lastExecutionMs: 1_796_000_000_000 });
    expect(metrics.lag.count).toBe(2);
    expect(said()).toEqual([
      "INFO Fired 2 schedule(s) (1 failed): first 42 for 2026-11-30T00:53:19.990Z, lag 10 ms (max 40 ms)",
      "DEBUG fired schedule 42 messageId=42:1795999999990 traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 lag_ms=10",
      "DEBUG fired schedule 43 messageId=43:1795999999960 traceparent=00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01 lag_ms=40",
      'WARNING 1 fire(s) failed and moved on first="schedule 44: nacked by the broker"',
      "DEBUG fire failed: schedule 44: nacked by the broker",
    ]);
  });

  test("scanned: invalid rows warned once per row, the gauges set each time", () => {
    const { report, metrics, said } = setup();
    const invalid = [{ id: 9, reason: "next_run_at is not finite" as const }];
    report({ type: "scanned", invalid, setAside: 1, pausedNow: 2 });
    report({ type: "scanned", invalid, setAside: 1, pausedNow: 3 });
    expect(metrics).toMatchObject({ invalidRows: 2, pausedNow: 3 });
    expect(said()).toEqual([
      "WARNING Schedule 9 is active but invalid (next_run_at is not finite); it will not be fired until fixed",
    ]);
  });

  test("outcome refused and set aside", () => {
    const { report, metrics, said } = setup();
    report({ type: "outcome refused", id: 5, reason: "integer out of range", movedOn: true });
    report({ type: "outcome refused", id: 6, reason: "trigger says no", movedOn: false });
    report({ type: "set aside", id: 6, reason: "the database refused its outcome (trigger says no)" });
    expect(metrics.failures).toBe(2);
    expect(said()).toEqual([
      "WARNING Schedule 5: the database refused its outcome (integer out of range); moved on to its next slot with last_error saying so",
      "WARNING Schedule 6 is set aside until the scheduler restarts: the database refused its outcome (trigger says no)",
    ]);
  });
});
