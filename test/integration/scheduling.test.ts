/** Scheduling semantics of docs/design.md §3–§12 with the compiled binary, real PostgreSQL and RabbitMQ. */
import { describe, expect, test } from "bun:test";
import { createRabbitUser } from "../support/rabbit-user.ts";
import { testScope } from "../support/scope.ts";
import { type createTestQueue, insertSchedules, type TestDatabase, waitFor } from "../support/services.ts";

const scope = testScope();
const start = scope.start;
const setup = (queue: Parameters<typeof createTestQueue>[0] = {}) => scope.setup({ queue });

interface RowState {
  id: number;
  next_ms: number;
  run_count: number;
  failure_count: number;
  last_error: string | null;
  is_active: boolean;
}

const rowsOf = (db: TestDatabase) =>
  db.sql<RowState[]>`
    SELECT id, (extract(epoch FROM next_run_at) * 1000)::float8 AS next_ms, run_count, failure_count, last_error, is_active
      FROM scheduled_workflows ORDER BY id`;

describe("timing", () => {
  test("rows due 0.5–3 s ahead are published within 250 ms of their slot", async () => {
    const { db, queue } = await setup();
    await queue.consume();
    const offsets = [500, 900, 1_300, 1_700, 2_100, 2_500, 3_000];
    await insertSchedules(
      db.sql,
      offsets.map((dueInMs) => ({ dueInMs, intervalSeconds: 3600 })),
    );
    start({ ...db.env, ...queue.env });
    await waitFor("every slot", () => queue.messages.length === offsets.length, 15_000);
    for (const message of queue.messages) {
      const lag = message.receivedAt - Date.parse(message.body.scheduled_for as string);
      expect(lag).toBeGreaterThanOrEqual(-5);
      expect(lag).toBeLessThan(250);
    }
  });

  test("the next slot stays on the grid across fires (no drift)", async () => {
    const { db, queue } = await setup();
    await queue.consume();
    const [id] = await insertSchedules(db.sql, [{ dueInMs: 300, intervalSeconds: 1 }]);
    const [first] = await rowsOf(db);
    start({ ...db.env, ...queue.env });
    await waitFor("four fires", () => queue.messages.length >= 4, 10_000);
    const slots = queue.messages.slice(0, 4).map((m) => Date.parse(m.body.scheduled_for as string));
    const base = Math.floor(first!.next_ms);
    expect(slots).toEqual([base, base + 1000, base + 2000, base + 3000]);
    expect(queue.messages.slice(0, 4).map((m) => m.body.run_number)).toEqual([1, 2, 3, 4]);
    expect(queue.messages[0]!.raw.properties.messageId).toBe(`${id}:${base}`);
  });

  test("ten slots due at once yield one message with missed_runs 9 and a next slot in the future on the grid", async () => {
    const { db, queue } = await setup();
    await queue.consume();
    await insertSchedules(db.sql, [{ dueInMs: -9_500 * 6, intervalSeconds: 6 }]); // 9.5 intervals late
    const [before] = await rowsOf(db);
    start({ ...db.env, ...queue.env });
    const message = await waitFor("the message", () => queue.messages[0]);
    expect(message.body.missed_runs).toBe(9);
    const [after] = await waitFor("the update", async () =>
      (await rowsOf(db))[0]!.run_count === 1 ? rowsOf(db) : null,
    );
    expect(after!.next_ms).toBeCloseTo(before!.next_ms + 10 * 6_000, 0);
    expect(after!.next_ms).toBeGreaterThan(Date.now());
    await Bun.sleep(1_000);
    expect(queue.messages).toHaveLength(1);
  });

  test("SCHEDULER_MISFIRE_GRACE skips a stale slot: no message, recorded, schedule moves on", async () => {
    const { db, queue } = await setup();
    await queue.consume();
    await insertSchedules(db.sql, [
      { dueInMs: -30_000, intervalSeconds: 3600 }, // 30 s late: beyond a 5 s grace
      { dueInMs: -1_000, intervalSeconds: 3600 }, // within the grace
    ]);
    const scheduler = start({ ...db.env, ...queue.env, SCHEDULER_MISFIRE_GRACE: "5" });
    const rows = await waitFor("both rows handled", async () => {
      const rows = await rowsOf(db);
      return rows.every((r) => r.next_ms > Date.now()) ? rows : null;
    });
    expect(rows[0]).toMatchObject({ run_count: 0, failure_count: 0, is_active: true });
    expect(rows[0]!.last_error).toMatch(
      /^skipped by rune-scheduler: slot .* was 30\.\d{3}s late, more than SCHEDULER_MISFIRE_GRACE=5s$/,
    );
    expect(rows[1]).toMatchObject({ run_count: 1, last_error: null });
    await waitFor("the in-grace message", () => queue.messages.length === 1);
    expect(queue.messages[0]!.body.schedule_id).toBe(rows[1]!.id);
    expect(scheduler.proc.exitCode).toBeNull();
  });
});

describe("failed fires", () => {
  test("a nacked message (queue full, reject-publish) marks the row failed and moves it on", async () => {
    const { db, queue } = await setup({ arguments: { "x-max-length": 0, "x-overflow": "reject-publish" } });
    await insertSchedules(db.sql, [{ dueInMs: -100, intervalSeconds: 3600 }]);
    start({ ...db.env, ...queue.env });
    const [row] = await waitFor("the failure", async () =>
      (await rowsOf(db))[0]!.failure_count === 1 ? rowsOf(db) : null,
    );
    expect(row!.last_error).toBe("nacked by the broker (queue full, rejected or broker error)");
    expect(row!.run_count).toBe(1);
    expect(row!.next_ms).toBeGreaterThan(Date.now());
  });

  test("a returned message whose queue cannot be declared again marks the row failed; pause-after-failures deactivates it with a reason", async () => {
    const { db, queue } = await setup();
    // May publish, may not declare: once the queue is gone, every publish is NO_ROUTE and the
    // scheduler's attempt to declare the queue again is refused.
    const user = await createRabbitUser({ configure: "^$", write: ".*", read: ".*" });
    scope.defer(() => user.drop());
    await insertSchedules(db.sql, [{ dueInMs: -100, intervalSeconds: 1 }]);
    const scheduler = start({ ...db.env, ...queue.env, ...user.env, SCHEDULER_PAUSE_AFTER_FAILURES: "2" });
    await scheduler.waitForLine(/RabbitMQ connection established/);
    const channel = await queue.connection.createChannel();
    await channel.deleteQueue(queue.name);
    const [row] = await waitFor(
      "the pause",
      async () => ((await rowsOf(db))[0]!.is_active ? null : rowsOf(db)),
      10_000,
    );
    expect(row!.failure_count).toBe(2);
    expect(row!.last_error).toStartWith(
      `paused by rune-scheduler after 2 consecutive failed fires; last: returned by the broker as unroutable: 312 NO_ROUTE; declaring queue "${queue.name}" failed: `,
    );
    expect(row!.last_error).toContain("ACCESS_REFUSED");
    expect(scheduler.proc.exitCode).toBeNull();
  });
});
