/**
 * The engine under outages, locks and partial batches (docs/design.md §13–§16), against the in-memory fakes:
 * no services. A running scheduler outlives any outage unless SCHEDULER_MAX_OUTAGE says
 * otherwise; a refusal at start-up ends it at once; a locked table, a row that cannot be
 * planned, a cycle that confirmed some rows, a queue declared again are none of them failures.
 * Back-off delays are injected (a few ms) and time is Bun's fake clock, which `until` moves only
 * while the engine waits: every wait is on a condition, none in real time.
 */
import { describe, expect, test } from "bun:test";
import type { OutgoingMessage } from "../../src/schedule/message.ts";
import type { PublishOutcome } from "../../src/schedule/plan.ts";
import {
  connectionRefused,
  engineTestScope,
  exit,
  type FakeRow,
  fakePublisher,
  fakeStore,
  type Harness,
  launch,
  lineTime,
  matching,
  row,
} from "../support/engine-fakes.ts";
import { until } from "../support/fake-time.ts";

const running = engineTestScope();

const ATTEMPT = / ERROR (PostgreSQL|RabbitMQ) failed \(attempt (\d+)(\/\d+)?\)/;
const attempts = (lines: readonly string[]) => matching(lines, ATTEMPT).map((line) => Number(ATTEMPT.exec(line)![2]));
const errorsOrWorse = (lines: readonly string[]) => matching(lines, / (ERROR|CRITICAL) /);

/** Waits until the engine has completed at least one whole cycle (start-up is over). */
const untilRunning = (h: Harness) => until("a complete first cycle", () => h.metrics.checks >= 2, 2_000);

describe("once running, an outage never ends the scheduler by itself", () => {
  test("ten consecutive failures with SCHEDULER_MAX_RETRIES=3 do not end it; it recovers and fires", async () => {
    const rows: FakeRow[] = [];
    const fake = fakeStore(rows, Date.now);
    const h = launch(
      { store: fake.store, options: { pollIntervalMs: 20, maxRetries: 3 }, retryDelay: () => 5 },
      running,
    );
    await untilRunning(h);

    fake.fail(connectionRefused());
    await until("attempt 10", () => attempts(h.lines).includes(10), 3_000);
    expect(h.done.settled).toBe(false);
    expect(attempts(h.lines).slice(0, 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // No "/3": the start-up limit no longer applies.
    expect(matching(h.lines, ATTEMPT).some((line) => line.includes("/3)"))).toBe(false);
    expect(matching(h.lines, / CRITICAL /)).toEqual([]);

    rows.push(row(1, Date.now() - 10));
    fake.fail(null);
    // The line comes once the whole cycle (claim, poll, scan) has gone through.
    const RECOVERED = /INFO Recovered after (\d+) failed attempt\(s\) \([\d.]+s\)/;
    await until("the recovery", () => h.metrics.executions === 1 && matching(h.lines, RECOVERED).length > 0, 2_000);
    const recovered = matching(h.lines, RECOVERED);
    expect(recovered).toHaveLength(1);
    expect(Number(/after (\d+) failed/.exec(recovered[0]!)![1])).toBeGreaterThanOrEqual(10);
    expect(rows[0]!.runCount).toBe(1);
    expect(h.done.settled).toBe(false);
  });

  test("SCHEDULER_MAX_OUTAGE: a dependency lost for longer ends it with exit 1 and a CRITICAL line", async () => {
    const fake = fakeStore([], Date.now);
    const h = launch(
      { store: fake.store, options: { pollIntervalMs: 20, maxRetries: 2, maxOutageMs: 100 }, retryDelay: () => 5 },
      running,
    );
    await untilRunning(h);

    const lostAt = h.clock.local();
    fake.fail(connectionRefused());
    expect(await exit(h)).toBe(1);
    expect(h.clock.local() - lostAt).toBeGreaterThanOrEqual(100);
    // Retried past MAX_RETRIES, which only bounds start-up, until the outage was too long.
    expect(attempts(h.lines).length).toBeGreaterThan(2);
    const critical = matching(h.lines, / CRITICAL /);
    expect(critical).toHaveLength(1);
    expect(critical[0]).toMatch(/CRITICAL PostgreSQL unavailable for [\d.]+s \(SCHEDULER_MAX_OUTAGE=0\.1\); giving up/);
    expect(Number(/unavailable for ([\d.]+)s/.exec(critical[0]!)![1])).toBeGreaterThanOrEqual(0.1);
  });

  test("SCHEDULER_MAX_OUTAGE=0 never gives up, whatever the outage's length", async () => {
    const fake = fakeStore([], Date.now);
    const h = launch(
      { store: fake.store, options: { pollIntervalMs: 20, maxRetries: 1, maxOutageMs: 0 }, retryDelay: () => 5 },
      running,
    );
    await untilRunning(h);

    const lostAt = h.clock.local();
    fake.fail(connectionRefused());
    await until(
      "150 ms and 20 attempts of outage",
      () => h.clock.local() - lostAt >= 150 && attempts(h.lines).length >= 20,
      3_000,
    );
    expect(h.done.settled).toBe(false);
    expect(matching(h.lines, / CRITICAL /)).toEqual([]);
  });

  test("even an authentication failure is retried once running (a password rotated under it)", async () => {
    const fake = fakeStore([], Date.now);
    const h = launch(
      { store: fake.store, options: { pollIntervalMs: 20, maxRetries: 0 }, retryDelay: () => 5 },
      running,
    );
    await untilRunning(h);

    fake.fail(Object.assign(new Error('password authentication failed for user "postgres"'), { code: "28P01" }));
    await until("attempt 5", () => attempts(h.lines).includes(5), 2_000);
    expect(h.done.settled).toBe(false);
    expect(matching(h.lines, / CRITICAL /)).toEqual([]);
  });

  test("a wake (NOTIFY) during a back-off does not shorten it", async () => {
    const fake = fakeStore([], Date.now);
    const h = launch({ store: fake.store, options: { pollIntervalMs: 20 }, retryDelay: () => 300 }, running);
    await untilRunning(h);

    const callsBefore = fake.trace.length;
    fake.fail(connectionRefused());
    let wakes = 0;
    const waker = setInterval(() => ((wakes += 1), h.engine.wake()), 10);
    try {
      await until("attempt 2", () => attempts(h.lines).includes(2), 2_000);
    } finally {
      clearInterval(waker);
    }
    const [first, second] = matching(h.lines, ATTEMPT);
    // The full 300 ms passed between the attempts, through ~30 wakes.
    expect(lineTime(second!) - lineTime(first!)).toBeGreaterThanOrEqual(300);
    expect(wakes).toBeGreaterThanOrEqual(20);
    // The failing claim (perhaps already under way), then one ping after the delay: nothing in between.
    const during = fake.trace.slice(callsBefore).map((call) => call.op);
    expect(during.filter((op) => op === "ping")).toEqual(["ping"]);
    expect(during.length).toBeLessThanOrEqual(2);
  });
});

describe("at start-up, a permanent refusal ends it at the first attempt", () => {
  const cases = [
    {
      name: "PostgreSQL: authentication failed (28P01)",
      dependency: "PostgreSQL",
      pg: Object.assign(new Error('password authentication failed for user "postgres"'), { code: "28P01" }),
      mq: null,
    },
    {
      name: "RabbitMQ: ACCESS-REFUSED (403) from the handshake",
      dependency: "RabbitMQ",
      pg: null,
      mq: new Error(
        'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."',
      ),
    },
  ];
  for (const { name, dependency, pg, mq } of cases) {
    test(`${name}: exit 1 with a CRITICAL line, even with SCHEDULER_MAX_RETRIES=0`, async () => {
      const fake = fakeStore([], Date.now);
      fake.fail(pg);
      let connects = 0;
      const h = launch(
        {
          store: fake.store,
          options: { maxRetries: 0 },
          retryDelay: () => 5,
          connectPublisher: async () => {
            connects += 1;
            if (mq) throw mq;
            return fakePublisher().publisher;
          },
        },
        running,
      );
      expect(await exit(h)).toBe(1);
      expect(attempts(h.lines)).toEqual([]);
      expect(fake.calls.pings).toBe(1);
      expect(connects).toBe(mq ? 1 : 0);
      const critical = matching(h.lines, / CRITICAL /);
      expect(critical).toHaveLength(1);
      expect(critical[0]).toContain(
        `CRITICAL ${dependency} refused for good at start-up; fix the configuration; giving up`,
      );
    });
  }

  test("a transient failure at start-up with SCHEDULER_MAX_RETRIES=0 is retried, not taken for a refusal", async () => {
    const fake = fakeStore([], Date.now);
    fake.fail(connectionRefused());
    const h = launch({ store: fake.store, options: { maxRetries: 0 }, retryDelay: () => 5 }, running);
    await until("attempt 5", () => attempts(h.lines).includes(5), 2_000);
    expect(h.done.settled).toBe(false);
    // Retry forever: no "/N" limit shown.
    expect(matching(h.lines, ATTEMPT).every((line) => !ATTEMPT.exec(line)![3])).toBe(true);
  });
});

describe("HEALTHCHECK FAILED is logged once per outage", () => {
  test("a database outage: once at its first failure, again only for the next outage", async () => {
    const rows: FakeRow[] = [];
    const fake = fakeStore(rows, Date.now);
    const h = launch({ store: fake.store, options: { pollIntervalMs: 20 }, retryDelay: () => 5 }, running);
    await untilRunning(h);
    const HEALTH = /ERROR HEALTHCHECK FAILED \| DB: down \| MQ: up\n?$/;

    for (const outage of [1, 2]) {
      fake.fail(connectionRefused());
      await until(`attempt 4 of outage ${outage}`, () => matching(h.lines, ATTEMPT).length >= 4 * outage, 2_000);
      fake.fail(null);
      await until(`the end of outage ${outage}`, () => matching(h.lines, /Recovered after/).length === outage, 2_000);
      expect(matching(h.lines, HEALTH)).toHaveLength(outage);
    }
    // Each HEALTHCHECK FAILED comes right before its outage's attempt 1.
    const order = h.lines
      .filter((line) => HEALTH.test(line) || ATTEMPT.test(line))
      .map((line) => (HEALTH.test(line) ? "health" : attempts([line])[0]));
    expect(order.filter((entry, i) => entry === "health" && order[i + 1] !== 1)).toEqual([]);
  });

  test("a broker outage: DB up, MQ down, once", async () => {
    const fake = fakeStore([], Date.now);
    const { publisher } = fakePublisher();
    let refuse = 0;
    const h = launch(
      {
        store: fake.store,
        options: { pollIntervalMs: 20 },
        retryDelay: () => 5,
        connectPublisher: async () => {
          if (refuse > 0 && refuse-- > 0) throw connectionRefused(5672);
          publisher.connected = true;
          return publisher;
        },
      },
      running,
    );
    await untilRunning(h);

    refuse = 5;
    publisher.connected = false;
    await until(
      "the reconnect",
      () => refuse === 0 && matching(h.lines, /RabbitMQ connection established/).length === 2,
      2_000,
    );
    expect(matching(h.lines, /HEALTHCHECK FAILED/)).toEqual([
      expect.stringMatching(/ERROR HEALTHCHECK FAILED \| DB: up \| MQ: down\n?$/),
    ]);
    expect(matching(h.lines, / ERROR RabbitMQ failed \(attempt \d+\)/)).toHaveLength(5);
    await until("ready again", () => h.metrics.mqUp, 1_000);
  });
});

describe("counters move only after the commit", () => {
  test("a batch published but not committed counts nothing; once committed, each fire counts once", async () => {
    const rows = [1, 2, 3].map((id) => row(id, Date.now() - 10));
    const fake = fakeStore(rows, Date.now);
    const nacked = (message: OutgoingMessage): PublishOutcome =>
      message.scheduleId === 3 ? { status: "failed", reason: "nacked by the broker" } : { status: "confirmed" };
    const { publisher, published } = fakePublisher(nacked);
    fake.failCommit(Object.assign(new Error("could not serialize access due to concurrent update"), { code: "40001" }));
    const h = launch({ store: fake.store, publisher, options: { pollIntervalMs: 20 }, retryDelay: () => 5 }, running);

    await until("three published, uncommitted batches", () => published.length >= 9, 2_000);
    expect(h.metrics.executions).toBe(0);
    expect(h.metrics.failures).toBe(0);
    expect(h.metrics.lastExecutionMs).toBeNull();
    expect(h.metrics.lag.count).toBe(0);
    expect(matching(h.lines, /fire\(s\) failed and moved on/)).toEqual([]);
    expect(rows.every((r) => r.runCount === 0)).toBe(true);

    fake.failCommit(null);
    await until("the committed batch", () => h.metrics.executions > 0, 2_000);
    const checks = h.metrics.checks;
    await until("two more polls", () => h.metrics.checks >= checks + 2, 2_000);
    expect(h.metrics.executions).toBe(2);
    expect(h.metrics.failures).toBe(1);
    expect(h.metrics.lag.count).toBe(2);
    expect(h.metrics.lastExecutionMs).not.toBeNull();
    expect(rows.map((r) => r.runCount)).toEqual([1, 1, 1]);
  });
});

describe("a locked table is waited for, not failed", () => {
  test("55P03 from the claim: one WARNING, no attempt counted (no exit with MAX_RETRIES=1 at start-up), then every row fires once", async () => {
    const rows = [1, 2, 3].map((id) => row(id, Date.now() - 10));
    const fake = fakeStore(rows, Date.now);
    fake.failClaims(Object.assign(new Error("canceling statement due to lock timeout"), { code: "55P03" }));
    const { publisher, published } = fakePublisher();
    const h = launch(
      { store: fake.store, publisher, options: { pollIntervalMs: 20, maxRetries: 1 }, retryDelay: () => 5 },
      running,
    );

    await until("two locked claims", () => fake.calls.claims >= 2, 2_000);
    expect(h.done.settled).toBe(false);
    expect(published).toEqual([]);
    expect(matching(h.lines, /WARNING scheduled_workflows is locked by another session/)).toHaveLength(1);

    fake.failClaims(null);
    await until("every row fired", () => h.metrics.executions === 3, 2_000);
    expect(
      matching(h.lines, /INFO scheduled_workflows is no longer locked after [\d.]+s; claiming again/),
    ).toHaveLength(1);
    expect(matching(h.lines, /scheduled_workflows is locked/)).toHaveLength(1);
    expect(errorsOrWorse(h.lines)).toEqual([]);
    expect(matching(h.lines, /Recovered after|HEALTHCHECK FAILED/)).toEqual([]);
    expect(rows.map((r) => r.runCount)).toEqual([1, 1, 1]);
    expect(published).toHaveLength(3);
    expect(h.done.settled).toBe(false);
  });
});

describe("no row stops the others", () => {
  test("rows that cannot be planned are set aside, never claimed again; the rest of their batch fires", async () => {
    const past = Date.now() - 10;
    const rows = [row(1, past), row(2, Number.NaN), row(3, past, 0), row(4, past)];
    const fake = fakeStore(rows, Date.now);
    const h = launch({ store: fake.store, options: { pollIntervalMs: 20 }, retryDelay: () => 5 }, running);

    await until("the good rows fired", () => h.metrics.executions === 2, 2_000);
    const claims = fake.calls.claims;
    await until("three more claims", () => fake.calls.claims >= claims + 3, 2_000);
    expect(rows.map((r) => r.runCount)).toEqual([1, 0, 0, 1]);
    for (const id of [2, 3]) {
      expect(
        matching(h.lines, new RegExp(`WARNING Schedule ${id} is set aside until the scheduler restarts: `)),
      ).toHaveLength(1);
      expect(fake.handed.filter((handed) => handed === id)).toHaveLength(1);
    }
    expect([...fake.requests.at(-1)!.skipIds!].sort()).toEqual([2, 3]);
    expect([...fake.pollSkipIds.at(-1)!].sort()).toEqual([2, 3]);
    expect(rows[1]!.lastError).toBeNull();
    expect(rows[2]!.lastError).toBeNull();
    expect(errorsOrWorse(h.lines)).toEqual([]);
  });
});

describe("slow is not failed", () => {
  test("cycles that confirmed some rows before losing the link each count as attempt 1", async () => {
    const rows = Array.from({ length: 10 }, (_, i) => row(i + 1, Date.now() - 1_000));
    const fake = fakeStore(rows, Date.now);
    // Each batch: the first message confirmed, the link lost before the second's confirm.
    const { publisher } = fakePublisher((_, index) =>
      index === 0 ? { status: "confirmed" } : { status: "unknown", reason: "channel closed" },
    );
    const h = launch(
      { store: fake.store, publisher, options: { batchSize: 2, maxRetries: 2 }, retryDelay: () => 5 },
      running,
    );

    await until("every row fired", () => h.metrics.executions === 10, 3_000);
    // Nine cycles recorded one row and lost the other: never a second attempt, so no exit at MAX_RETRIES=2.
    expect(attempts(h.lines)).toEqual(Array(9).fill(1));
    expect(h.metrics.unknown).toBe(9);
    expect(rows.every((r) => r.runCount === 1)).toBe(true);
    expect(h.done.settled).toBe(false);
  });

  test("a batch interrupted on one node names that node, not every configured one", async () => {
    const fake = fakeStore([row(1, Date.now() - 1_000)], Date.now);
    const { publisher } = fakePublisher(() => ({ status: "unknown", reason: "channel closed" }));
    const h = launch(
      {
        store: fake.store,
        publisher: Object.assign(publisher, { where: "amqp://guest:***@mq-2:5672" }),
        retryDelay: () => 5,
      },
      running,
    );
    await until("the interrupted batch is retried", () => attempts(h.lines).length >= 1, 3_000);
    expect(matching(h.lines, /RabbitMQ failed \(attempt 1\)/)[0]).toContain("where=amqp://guest:***@mq-2:5672 ");
  });

  test("cycles that keep confirming rows are no outage: SCHEDULER_MAX_OUTAGE does not end them", async () => {
    const rows: FakeRow[] = [];
    const fake = fakeStore(rows, Date.now);
    let flaky = false;
    const { publisher } = fakePublisher((_, index) =>
      !flaky || index === 0 ? { status: "confirmed" } : { status: "unknown", reason: "channel closed" },
    );
    const h = launch(
      {
        store: fake.store,
        publisher,
        options: { pollIntervalMs: 20, batchSize: 2, maxOutageMs: 100 },
        retryDelay: () => 5,
      },
      running,
    );
    await untilRunning(h);

    // From now on every batch confirms one row and loses the link on the other, for well over 100 ms.
    rows.push(...Array.from({ length: 60 }, (_, i) => row(i + 1, Date.now() - 1_000)));
    flaky = true;
    const since = h.clock.local();
    await until("150 ms of such cycles", () => h.clock.local() - since >= 150 || h.done.settled, 3_000);
    expect(matching(h.lines, / CRITICAL /)).toEqual([]);
    expect(h.done.settled).toBe(false);
    expect(h.metrics.executions).toBeGreaterThan(10);
    expect(attempts(h.lines).every((attempt) => attempt === 1)).toBe(true);
  });

  test("a long drain keeps liveness and poll-time gauges fresh", async () => {
    const rows = Array.from({ length: 200 }, (_, i) => row(i + 1, Date.now() - 60_000));
    const fake = fakeStore(rows, Date.now);
    const { publisher } = fakePublisher(undefined, 5);
    const staleness: number[] = [];
    const checksSeen: number[] = [];
    let h: Harness | null = null;
    const watched = {
      ...publisher,
      publishBatch: async (messages: readonly OutgoingMessage[]) => {
        if (h) {
          staleness.push(h.clock.local() - h.engine.status().lastProgressLocal);
          checksSeen.push(h.metrics.checks);
        }
        return publisher.publishBatch(messages);
      },
    };
    const pollIntervalMs = 100;
    h = launch({ store: fake.store, publisher: watched, options: { pollIntervalMs, batchSize: 1 } }, running);
    await until("the drain", () => h!.metrics.executions === 200, 5_000);

    const claims = fake.trace.filter((call) => call.op === "claim");
    const drainStart = claims[0]!.at;
    const drainEnd = claims.at(-1)!.at;
    const polls = fake.trace.filter((call) => call.op === "poll" && call.at < drainEnd).map((call) => call.at);
    // A poll about every poll interval during the drain (a batch and timer slack aside), not one at its end.
    const marks = [drainStart, ...polls, drainEnd];
    const gaps = marks.slice(1).map((at, i) => at - marks[i]!);
    expect(drainEnd - drainStart).toBeGreaterThan(5 * pollIntervalMs);
    expect(Math.max(...gaps)).toBeLessThan(2 * pollIntervalMs);
    expect(checksSeen.at(-1)!).toBeGreaterThanOrEqual(4);
    // Progress is reported per batch, not only at the top of the loop.
    expect(staleness.length).toBeGreaterThan(190);
    expect(Math.max(...staleness)).toBeLessThan(40);
  });
});

describe("the byte budget", () => {
  test("the claim is given the batch size, the byte budget and the rows set aside", async () => {
    const fake = fakeStore([row(1, Date.now() - 10)], Date.now);
    const h = launch({ store: fake.store, options: { batchSize: 7, batchBytes: 4096 } }, running);
    await until("the fire", () => h.metrics.executions === 1, 1_000);
    expect(fake.requests[0]).toEqual({ limit: 7, budgetBytes: 4096, skipIds: [] });
  });

  test("a batch cut by the budget (locked > claimed) is followed by another claim at once, not by a poll", async () => {
    const payload = JSON.stringify({ data: "x".repeat(1_000) });
    const rows = Array.from({ length: 5 }, (_, i) => ({ ...row(i + 1, Date.now() - 10), workflowData: payload }));
    const fake = fakeStore(rows, Date.now);
    const perRow = payload.length + 512; // MESSAGE_OVERHEAD_BYTES
    const h = launch(
      { store: fake.store, options: { pollIntervalMs: 60_000, batchSize: 10, batchBytes: 2 * perRow } },
      running,
    );

    await until("every row fired", () => h.metrics.executions === 5, 1_000);
    // Two rows a claim (2 + 2 + 1, in up to two lanes at once), all before the first poll.
    const firstPoll = fake.trace.findIndex((call) => call.op === "poll");
    expect(fake.trace[firstPoll]?.handed).toBe(5);
    expect(fake.trace.slice(0, firstPoll).filter((call) => call.op === "claim").length).toBeGreaterThanOrEqual(3);
  });
});

describe("a queue declared again", () => {
  test("a 'retry' outcome (queue re-declared) fires the row once more at once: no failure, no reconnect", async () => {
    const rows = [row(1, Date.now() - 10)];
    const fake = fakeStore(rows, Date.now);
    let answers = 0;
    const { publisher, published } = fakePublisher(() =>
      ++answers === 1
        ? { status: "retry", reason: "queue workflow_queue was missing; declared again" }
        : { status: "confirmed" },
    );
    let connects = 0;
    const h = launch(
      {
        store: fake.store,
        options: { pollIntervalMs: 60_000, maxRetries: 1 },
        connectPublisher: async () => ((connects += 1), publisher),
      },
      running,
    );

    await until("the fire", () => h.metrics.executions === 1, 1_000);
    expect(published.map((m) => m.messageId)).toEqual([published[0]!.messageId, published[0]!.messageId]);
    expect(rows[0]).toMatchObject({ runCount: 1, failureCount: 0, lastError: null });
    expect(h.metrics.failures).toBe(0);
    expect(connects).toBe(1);
    expect(errorsOrWorse(h.lines)).toEqual([]);
    // Claimed again before any poll: the retry did not wait for the next poll.
    expect(fake.trace.map((call) => call.op).slice(0, 4)).toEqual(["ping", "claim", "claim", "poll"]);
  });
});
