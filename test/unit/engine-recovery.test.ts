/**
 * How soon the engine fires once a dependency is back, and how hard it knocks while it is down
 * (docs/design.md §13), with the production paces (src/engine/timing.ts) on Bun's fake clock:
 * attempts every 1–1.2 s whatever the outage's length, reports on the back-off (1 s doubling to
 * 30 s), and readiness that says why the replica cannot fire.
 */
import { describe, expect, test } from "bun:test";
import { readiness } from "../../src/observe/http.ts";
import {
  connectionRefused,
  engineTestScope,
  exit,
  type FakeRow,
  fakePublisher,
  fakeStore,
  launch,
  matching,
  row,
} from "../support/engine-fakes.ts";
import { elapse, until } from "../support/fake-time.ts";

const running = engineTestScope();
const ATTEMPT = / ERROR (PostgreSQL|RabbitMQ) failed \(attempt (\d+)\)/;

describe("a dependency back after a long outage", () => {
  for (const outageMs of [10_000, 45_000, 120_000]) {
    test(`PostgreSQL down ${outageMs / 1000} s: the first fire within 1.2 s of its return, at most one attempt a second, reports at growing intervals`, async () => {
      const rows: FakeRow[] = [];
      const fake = fakeStore(rows, Date.now);
      const h = launch({ store: fake.store, options: { pollIntervalMs: 60_000 } }, running);
      await until("running", () => h.metrics.checks >= 1, 2_000);

      fake.fail(connectionRefused());
      h.engine.wake();
      await until("the outage", () => !h.metrics.dbUp, 1_000);
      const pingsBefore = fake.calls.pings;
      rows.push(row(1, Date.now()));
      await elapse(outageMs);
      const attempts = fake.calls.pings - pingsBefore;
      fake.fail(null);
      const back = Date.now();
      await until("the first fire", () => h.metrics.executions === 1, 5_000);
      const firstFireMs = Date.now() - back;

      expect(firstFireMs).toBeLessThanOrEqual(1_200);
      // One attempt every 1–1.2 s (the first after 0.5–1 s): never more than one a second.
      expect(attempts).toBeLessThanOrEqual(Math.ceil(outageMs / 1_000) + 1);
      expect(attempts).toBeGreaterThanOrEqual(Math.floor(outageMs / 1_200) - 1);
      // Reports at the back-off's pace: 1, 2, 4, 8, 16, 30, 30 … s apart, far fewer than attempts.
      const reports = matching(h.lines, ATTEMPT).length;
      expect(reports).toBeLessThanOrEqual(Math.ceil(Math.log2(outageMs / 500)) + Math.ceil(outageMs / 15_000));
      // Over 10 s the back-off's randomised delays can give 5 reports in 9 attempts; "far fewer"
      // shows from 45 s on (the bound above holds the pace at every length).
      expect(reports).toBeLessThan(outageMs >= 45_000 ? attempts / 2 : attempts);
      expect(matching(h.lines, /INFO Recovered after \d+ failed attempt\(s\)/)).toHaveLength(1);
    });
  }

  test("RabbitMQ refusing connections for 60 s: the first fire within 1.2 s of its return, at most one connect a second", async () => {
    const rows: FakeRow[] = [];
    const fake = fakeStore(rows, Date.now);
    const { publisher } = fakePublisher();
    let refusing = false;
    let connects = 0;
    const h = launch(
      {
        store: fake.store,
        options: { pollIntervalMs: 60_000 },
        connectPublisher: async () => {
          connects += 1;
          if (refusing) throw connectionRefused(5672);
          publisher.connected = true;
          return publisher;
        },
      },
      running,
    );
    await until("running", () => h.metrics.checks >= 1, 2_000);
    refusing = true;
    publisher.connected = false;
    h.engine.wake();
    const connectsBefore = connects;
    rows.push(row(1, Date.now()));
    await elapse(60_000);
    const attempts = connects - connectsBefore;
    refusing = false;
    const back = Date.now();
    await until("the first fire", () => h.metrics.executions === 1, 5_000);
    expect(Date.now() - back).toBeLessThanOrEqual(1_200);
    expect(attempts).toBeLessThanOrEqual(61);
    expect(attempts).toBeGreaterThanOrEqual(48);
  });

  test("SCHEDULER_MAX_RETRIES counts reports, not the attempts between them: the start-up lasts as long as before", async () => {
    const fake = fakeStore([], Date.now);
    fake.fail(connectionRefused());
    const started = Date.now();
    const h = launch({ store: fake.store, options: { maxRetries: 4 } }, running);
    expect(await exit(h)).toBe(1);
    // Reports after 0.5–1, 1–2 and 2–4 s: the fourth failure comes 3.5–7 s (and a last interval) in.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_500);
    expect(Date.now() - started).toBeLessThanOrEqual(8_300);
    expect(matching(h.lines, / ERROR PostgreSQL failed \(attempt \d\/4\)/)).toHaveLength(3);
    expect(fake.calls.pings).toBeGreaterThan(4);
  });
});

describe("readiness says when the replica cannot fire, whatever the reason", () => {
  test("a claim failing with the connection still up (a read-only primary): not ready, DB down in the line, ready again once it fires", async () => {
    const rows = [row(1, Date.now() + 5_000)];
    const fake = fakeStore(rows, Date.now);
    const h = launch({ store: fake.store, options: { pollIntervalMs: 60_000, lookAheadMs: 60_000 } }, running);
    await until("running", () => h.metrics.checks >= 1, 2_000);
    expect(readiness(h.metrics)).toEqual({ ok: true, reason: "ok" });

    const readOnly = Object.assign(new Error("cannot execute LOCK TABLE in a read-only transaction"), {
      code: "25006-not-a-connection-error",
    });
    fake.failClaims(readOnly);
    await until("the failing claim", () => !readiness(h.metrics).ok, 10_000);
    expect(readiness(h.metrics).reason).toMatch(/^not firing: PostgreSQL failed 1 time\(s\) in a row/);
    expect(h.metrics.dbUp).toBe(false);
    expect(matching(h.lines, /ERROR HEALTHCHECK FAILED \| DB: down \| MQ: up/)).toHaveLength(1);

    fake.failClaims(null);
    const back = Date.now();
    await until("the fire", () => h.metrics.executions === 1, 5_000);
    expect(Date.now() - back).toBeLessThanOrEqual(1_200);
    expect(readiness(h.metrics)).toEqual({ ok: true, reason: "ok" });
  });

  test("a broker that blocks publishing: named with its node and reason, not ready, reminded at growing intervals", async () => {
    const fake = fakeStore([row(1, Date.now() + 60_000)], Date.now);
    let onChange = () => {};
    const link = { blocked: false };
    const { publisher } = fakePublisher();
    Object.defineProperties(publisher, {
      blocked: { get: () => link.blocked },
      blockedReason: { get: () => (link.blocked ? "memory alarm" : null) },
      where: { value: "amqp://mq-2:5672" },
    });
    const h = launch(
      {
        store: fake.store,
        options: { pollIntervalMs: 5_000 },
        connectPublisher: async (change) => ((onChange = change), (publisher.connected = true), publisher),
      },
      running,
    );
    await until("running", () => h.metrics.checks >= 1, 2_000);
    link.blocked = true;
    onChange();
    expect(readiness(h.metrics)).toEqual({
      ok: false,
      reason: "RabbitMQ node amqp://mq-2:5672 blocks publishing: memory alarm",
    });
    await elapse(200_000);
    const blocked = matching(h.lines, /blocks publishing: memory alarm/);
    // Once, then after 30, 60 (90 in all) and 120 s (210): two reminders within 200 s.
    expect(blocked[0]).toContain(
      "WARNING RabbitMQ node amqp://mq-2:5672 blocks publishing: memory alarm; not claiming until it lifts",
    );
    expect(blocked.slice(1).map((l) => /for ([\d.]+)s now/.exec(l)?.[1])).toEqual(["30.0", "90.0"]);
    expect(matching(h.lines, / ERROR | CRITICAL /)).toEqual([]);
  });
});

describe("a publish refused with 403 (no write permission)", () => {
  const refusedLink = () => {
    const { publisher } = fakePublisher(() => ({
      status: "unknown",
      reason: "channel closed",
    }));
    Object.defineProperty(publisher, "refused", {
      get: () =>
        "Channel closed by server: 403 (ACCESS-REFUSED) with message \"ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'u'\"",
    });
    return publisher;
  };

  test("at start-up ends the start at once, like a refused login", async () => {
    const fake = fakeStore([row(1, Date.now() - 10)], Date.now);
    const publisher = refusedLink();
    const h = launch({ store: fake.store, publisher, options: { maxRetries: 5 } }, running);
    expect(await exit(h, 2_000)).toBe(1);
    const [critical] = matching(h.lines, / CRITICAL /);
    expect(critical).toContain("CRITICAL RabbitMQ refused for good at start-up; fix the configuration; giving up");
    expect(critical).toContain("access to exchange");
    expect(fake.handed).toEqual([1]);
  });

  test("while running is retried with the back-off and named each time", async () => {
    const rows = [row(1, Date.now() + 2_000)];
    const fake = fakeStore(rows, Date.now);
    const publisher = refusedLink();
    const h = launch({ store: fake.store, publisher, options: { maxRetries: 5, pollIntervalMs: 1_000 } }, running);
    await until("two reports", () => matching(h.lines, ATTEMPT).length >= 2, 10_000);
    expect(h.done.settled).toBe(false);
    for (const line of matching(h.lines, ATTEMPT)) expect(line).toContain("access to exchange");
  });
});
