/**
 * The fire history (docs/contract.md §10): written in the claim transaction, so it holds exactly the
 * fires the rows record, one per slot, through crashes, a broker lost before the confirm, and
 * several replicas; and a database without the table works as before.
 */
import { expect, test } from "bun:test";
import { duplicates } from "../support/faults.ts";
import { addHistoryTables, type HistoryRow, historyRows } from "../support/history.ts";
import { testScope } from "../support/scope.ts";
import { bulkInsert, insertSchedules, type TestQueue, waitFor } from "../support/services.ts";

const scope = testScope();

/** Distinct message ids delivered to the queue (at-least-once: a slot may arrive twice, with one id). */
const delivered = (queue: TestQueue) => new Set(queue.messages.map((m) => m.raw.properties.messageId as string));

/** Every published history row is one delivered message, each once, and the rows agree with run_count. */
async function expectHistoryMatches(sql: TestQueue extends never ? never : import("postgres").Sql, queue: TestQueue) {
  const rows = await historyRows(sql);
  const published = rows.filter((r) => r.outcome === "published").map((r) => r.message_id!);
  expect(duplicates(published)).toEqual([]);
  expect(new Set(published)).toEqual(delivered(queue));
  for (const row of rows) expect(row.message_id).toBe(`${row.schedule_id}:${Math.floor(row.slot_ms)}`);
  const counts = await sql<{ id: number; run_count: number; fires: number; last: number | null }[]>`
    SELECT sw.id, sw.run_count, count(h.*)::int AS fires, max(h.run_number) AS last
      FROM scheduled_workflows sw LEFT JOIN scheduler_fire_history h ON h.schedule_id = sw.id
     GROUP BY sw.id, sw.run_count`;
  for (const c of counts)
    expect({ id: c.id, fires: c.fires, last: c.last ?? 0 }).toEqual({
      id: c.id,
      fires: c.run_count,
      last: c.run_count,
    });
  return rows;
}

test("a fire's history row: slot, message id, outcome, missed runs, sent and confirmed times, lag, replica, run number", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  await rig.startRunning({ SCHEDULER_INSTANCE_NAME: "replica-a" });
  // 10.5 intervals late: this fire carries the slots it passed over.
  const [id] = await insertSchedules(rig.db.sql, [{ dueInMs: -10_500, intervalSeconds: 1 }]);
  await waitFor("the fire", () => rig.queue.messages.length >= 1, 10_000);
  const [row] = await waitFor("its history row", async () =>
    (await historyRows(rig.db.sql)).length > 0 ? historyRows(rig.db.sql) : null,
  );
  const message = rig.queue.messages[0]!;
  expect(row).toMatchObject({
    schedule_id: id,
    message_id: message.raw.properties.messageId,
    outcome: "published",
    reason: null,
    missed_runs: message.body.missed_runs as number,
    replica: "replica-a",
    run_number: 1,
  } satisfies Partial<HistoryRow>);
  expect(row!.missed_runs).toBeGreaterThanOrEqual(9);
  expect(Math.floor(row!.slot_ms)).toBe(Date.parse(message.body.scheduled_for as string));
  expect(row!.sent_ms).toBeLessThanOrEqual(row!.confirmed_ms!);
  expect(row!.lag_seconds).toBeCloseTo((row!.confirmed_ms! - row!.slot_ms) / 1000, 2);
}, 30_000);

test("equals the delivered messages through a SIGKILL in the middle of 3,000 due rows: no row for a rolled-back batch", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  await addHistoryTables(db.sql);
  await bulkInsert(db, 3_000, 3600, "now() AT TIME ZONE 'UTC' - interval '1 minute'");
  const env = { ...db.env, ...queue.env, SCHEDULER_BATCH_SIZE: "200", SCHEDULER_HTTP_PORT: "0" };
  const first = scope.start(env);
  await waitFor("some messages", () => queue.messages.length >= 300, 30_000, 5);
  first.proc.kill("SIGKILL");
  await first.exited;
  const recorded = (
    await db.sql<{ recorded: number }[]>`SELECT count(*)::int AS recorded FROM scheduler_fire_history`
  )[0]!.recorded;
  expect(recorded).toBeLessThan(3_000); // the kill landed mid-way
  scope.start(env);
  await waitFor(
    "every row fired",
    async () => {
      const left = (
        await db.sql<{ left: number }[]>`SELECT count(*)::int AS left FROM scheduled_workflows WHERE run_count = 0`
      )[0]!.left;
      return left === 0;
    },
    60_000,
    100,
  );
  await waitFor("every message delivered", () => delivered(queue).size === 3_000, 10_000);
  const rows = await expectHistoryMatches(db.sql, queue);
  expect(rows.length).toBe(3_000);
  expect(new Set(rows.map((r) => r.replica)).size).toBe(2);
}, 120_000);

test("a broker lost before the confirm leaves no history row; the slot's fire after recovery has one", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  await rig.startRunning({ SCHEDULER_MAX_RETRIES: "0" });
  rig.mqProxy.stall();
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await waitFor("the unknown outcomes", async () => (await rig.metric("unknown_outcomes_total")) === 5, 20_000, 100);
  expect(await historyRows(rig.db.sql)).toEqual([]);
  rig.mqProxy.resume();
  await waitFor("5 rows recorded", async () => (await rig.rows()).every((r) => r.run_count === 1), 20_000, 100);
  await waitFor("5 messages", () => delivered(rig.queue).size === 5, 5_000);
  const rows = await expectHistoryMatches(rig.db.sql, rig.queue);
  expect(rows.map((r) => r.outcome)).toEqual(Array(5).fill("published"));
}, 60_000);

test("three replicas: one history row per slot fired, from the replica that sent it", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  await addHistoryTables(db.sql);
  await bulkInsert(db, 200, 1, "date_trunc('second', now() AT TIME ZONE 'UTC') + interval '2 seconds'");
  const env = { ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1", SCHEDULER_HTTP_PORT: "0" };
  const replicas = ["r1", "r2", "r3"].map((name) => scope.start({ ...env, SCHEDULER_INSTANCE_NAME: name }));
  await Promise.all(replicas.map((r) => r.waitForLine(/RabbitMQ connection established/)));
  await waitFor(
    "five slots of every schedule",
    async () => {
      const low = (await db.sql<{ low: number }[]>`SELECT min(run_count)::int AS low FROM scheduled_workflows`)[0]!.low;
      return low >= 5;
    },
    20_000,
    100,
  );
  await Promise.all(replicas.map((r) => r.stop("SIGTERM")));
  const rows = await expectHistoryMatches(db.sql, queue);
  const replicaOf = new Map(queue.messages.map((m) => [m.raw.properties.messageId as string, m]));
  expect(rows.every((r) => replicaOf.has(r.message_id!))).toBe(true);
  // Which replica wins each claim is up to SKIP LOCKED; the names are the replicas' own.
  const names = new Set(rows.map((r) => r.replica));
  expect([...names].every((name) => ["r1", "r2", "r3"].includes(name))).toBe(true);
  expect(names.size).toBeGreaterThanOrEqual(2);
}, 60_000);

test("a database without the tables works as before, and a table dropped while running stops the history, not the fires", async () => {
  const rig = await scope.rig();
  const scheduler = await rig.startRunning();
  await insertSchedules(rig.db.sql, [{ dueInMs: -100, intervalSeconds: 1 }]);
  await waitFor("fires without a history table", () => delivered(rig.queue).size >= 2, 10_000);
  const exists = (
    await rig.db.sql<{ exists: boolean }[]>`SELECT to_regclass('scheduler_fire_history') IS NOT NULL AS exists`
  )[0]!.exists;
  expect(exists).toBe(false);

  // The table appears: picked up at the next invalid-row scan or start; a new replica sees it at once.
  await addHistoryTables(rig.db.sql);
  await scheduler.stop("SIGTERM");
  const second = await rig.startRunning();
  await waitFor("history rows", async () => (await historyRows(rig.db.sql)).length >= 2, 10_000, 100);
  await rig.db.sql`DROP TABLE scheduler_fire_history`;
  const before = delivered(rig.queue).size;
  await waitFor("fires go on", () => delivered(rig.queue).size >= before + 3, 15_000, 100);
  expect(second.output()).toMatch(/Fire history not written for 1 fire\(s\).*scheduler_fire_history/);
  expect(duplicates(rig.messageIds())).toEqual([]); // the batch that met the drop was recorded, not rolled back
  expect(second.proc.exitCode).toBeNull();
}, 60_000);

test("a skipped slot and a failed fire: their outcome and reason, no message id, no run number for the skip", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  await rig.startRunning({ SCHEDULER_MISFIRE_GRACE: "5", SCHEDULER_MAX_MESSAGE_BYTES: "2000" });
  const [late] = await insertSchedules(rig.db.sql, [{ dueInMs: -3_600_000, intervalSeconds: 7200 }]);
  const [large] = await insertSchedules(rig.db.sql, [
    { dueInMs: -100, intervalSeconds: 3600, data: { blob: "x".repeat(3000) } },
  ]);
  const rows = await waitFor(
    "both recorded",
    async () => {
      const found = await historyRows(rig.db.sql);
      return found.length === 2 ? found : null;
    },
    10_000,
    100,
  );
  const byId = new Map(rows.map((r) => [r.schedule_id, r]));
  expect(byId.get(late!)).toMatchObject({
    outcome: "skipped",
    message_id: null,
    run_number: null,
    sent_ms: null,
    lag_seconds: null,
  });
  expect(byId.get(late!)!.reason).toMatch(/SCHEDULER_MISFIRE_GRACE/);
  expect(byId.get(large!)).toMatchObject({ outcome: "failed", message_id: null, run_number: 1, confirmed_ms: null });
  expect(byId.get(large!)!.reason).toMatch(/exceeds SCHEDULER_MAX_MESSAGE_BYTES=2000/);
  const [row] = await rig.db.sql<
    { last_error: string }[]
  >`SELECT last_error FROM scheduled_workflows WHERE id = ${late!}`;
  expect(byId.get(late!)!.reason).toBe(row!.last_error);
}, 30_000);

test("a history table this user may not write is left alone: fires go on, recorded once, no history", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  const user = `rune_ro_${rig.db.name.slice(-8)}`;
  await rig.db.sql.unsafe(`CREATE ROLE ${user} LOGIN; GRANT SELECT, UPDATE ON scheduled_workflows TO ${user};
    GRANT SELECT ON workflows, scheduler_fire_history TO ${user}`);
  scope.defer(() => rig.db.sql.unsafe(`DROP OWNED BY ${user}; DROP ROLE ${user}`));
  await rig.startRunning({ POSTGRES_USER: user });
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 3 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await waitFor("3 rows recorded", async () => (await rig.rows()).every((r) => r.run_count === 1), 10_000, 100);
  expect(delivered(rig.queue).size).toBe(3);
  expect(rig.messageIds()).toHaveLength(3);
  expect(await historyRows(rig.db.sql)).toHaveLength(0);
}, 30_000);

test("a broker link cut while confirms are outstanding: the batch rolls back with no history row, then one row per slot", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  await rig.startRunning({ SCHEDULER_MAX_RETRIES: "0" });
  // Slow confirms hold the claim transaction open long enough to cut the link under it.
  rig.mqProxy.delay(1_500);
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 8 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await waitFor("the claim transaction to be open", async () => (await rig.openClaims()) > 0, 5_000, 10);
  rig.mqProxy.reset();
  rig.mqProxy.delay(0);
  expect(await historyRows(rig.db.sql)).toHaveLength(0);
  await waitFor("8 rows recorded", async () => (await rig.rows()).every((r) => r.run_count === 1), 20_000, 100);
  await waitFor("8 messages", () => delivered(rig.queue).size === 8, 5_000);
  const rows = await expectHistoryMatches(rig.db.sql, rig.queue);
  expect(rows).toHaveLength(8);
}, 60_000);

test("a row whose write-back the database refuses is moved on with a history row that says why, and no run number", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  const [good, refused] = await insertSchedules(rig.db.sql, [
    { dueInMs: 3_600_000, intervalSeconds: 3600 },
    { dueInMs: 3_600_000, intervalSeconds: 3600 },
  ]);
  await rig.db.sql.unsafe(`
    CREATE FUNCTION refuse_runs() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.id = ${refused} AND NEW.run_count > OLD.run_count THEN RAISE EXCEPTION 'no more runs for %', NEW.id; END IF; RETURN NEW; END $$;
    CREATE TRIGGER refuse_runs BEFORE UPDATE ON scheduled_workflows FOR EACH ROW EXECUTE FUNCTION refuse_runs();`);
  await rig.startRunning();
  await rig.db.sql`UPDATE scheduled_workflows SET next_run_at = now() AT TIME ZONE 'UTC' - interval '1 second'`;
  const rows = await waitFor(
    "both in the history",
    async () => {
      const found = await historyRows(rig.db.sql);
      return found.length === 2 ? found : null;
    },
    15_000,
    100,
  );
  const byId = new Map(rows.map((r) => [r.schedule_id, r]));
  expect(byId.get(good!)).toMatchObject({ outcome: "published", run_number: 1, reason: null });
  expect(byId.get(refused!)).toMatchObject({ outcome: "published", run_number: null });
  expect(byId.get(refused!)!.reason).toMatch(/could not record this fire \(ok\): no more runs for/);
  expect(byId.get(refused!)!.message_id).toBe(`${refused}:${Math.floor(byId.get(refused!)!.slot_ms)}`);
}, 30_000);

test("a history table that refuses every row (a constraint added to it) stops the history, not the fires: each row fired and recorded once", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  await rig.db.sql`ALTER TABLE scheduler_fire_history ADD CONSTRAINT refuse_all CHECK (false) NOT VALID`;
  const scheduler = await rig.startRunning();
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await waitFor("5 rows recorded", async () => (await rig.rows()).every((r) => r.run_count === 1), 10_000, 100);
  expect(duplicates(rig.messageIds())).toEqual([]);
  expect(delivered(rig.queue).size).toBe(5);
  expect(await historyRows(rig.db.sql)).toHaveLength(0);
  expect(scheduler.output()).toMatch(/Fire history not written for 5 fire\(s\).*refuse_all/);
  expect(scheduler.output()).not.toMatch(/set aside/);
}, 30_000);

test("INSERT on the history revoked while running: the fires go on, none published twice", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  const user = `rune_rv_${rig.db.name.slice(-8)}`;
  await rig.db.sql.unsafe(`CREATE ROLE ${user} LOGIN; GRANT SELECT, UPDATE ON scheduled_workflows TO ${user};
    GRANT SELECT ON workflows TO ${user}; GRANT SELECT, INSERT ON scheduler_fire_history TO ${user}`);
  scope.defer(() => rig.db.sql.unsafe(`DROP OWNED BY ${user}; DROP ROLE ${user}`));
  await rig.startRunning({ POSTGRES_USER: user });
  const [first] = await insertSchedules(rig.db.sql, [{ dueInMs: -100, intervalSeconds: 3600 }]);
  await waitFor("its history row", async () => (await historyRows(rig.db.sql)).length === 1, 10_000, 100);
  await rig.db.sql.unsafe(`REVOKE INSERT ON scheduler_fire_history FROM ${user}`);
  const later = await insertSchedules(
    rig.db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await waitFor("6 rows recorded", async () => (await rig.rows()).every((r) => r.run_count === 1), 10_000, 100);
  expect(duplicates(rig.messageIds())).toEqual([]);
  expect(delivered(rig.queue).size).toBe(1 + later.length);
  expect((await historyRows(rig.db.sql)).map((r) => r.schedule_id)).toEqual([first!]);
}, 30_000);

test("a history table locked by another session (a VACUUM FULL): the fires are recorded without their history row, none published twice", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  await rig.startRunning();
  const locker = await rig.db.sql.reserve();
  try {
    await locker`BEGIN`;
    await locker`LOCK TABLE scheduler_fire_history IN ACCESS EXCLUSIVE MODE`;
    await insertSchedules(
      rig.db.sql,
      Array.from({ length: 5 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
    );
    // The write-back waits lock_timeout (5 s) for the history table, then records without it.
    await waitFor("5 rows recorded", async () => (await rig.rows()).every((r) => r.run_count === 1), 15_000, 100);
    expect(duplicates(rig.messageIds())).toEqual([]);
    expect(delivered(rig.queue).size).toBe(5);
  } finally {
    await locker`ROLLBACK`.catch(() => {});
    locker.release();
  }
  expect(await historyRows(rig.db.sql)).toHaveLength(0);
}, 30_000);

test("a row a century late on a one-second grid (missed_runs past int4): fired and recorded once, with its history row, and the others keep theirs", async () => {
  const rig = await scope.rig();
  await addHistoryTables(rig.db.sql);
  const normal = await insertSchedules(
    rig.db.sql,
    Array.from({ length: 3 }, () => ({ dueInMs: 3_600_000, intervalSeconds: 3600 })),
  );
  const [late] = await insertSchedules(rig.db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 1 }]);
  const scheduler = await rig.startRunning();
  // All due in one claim: the late one 100 years behind its 1-second grid (3.2 billion slots).
  await rig.db.sql`UPDATE scheduled_workflows SET next_run_at = CASE WHEN id = ${late!}
    THEN now() AT TIME ZONE 'UTC' - interval '100 years' ELSE now() AT TIME ZONE 'UTC' - interval '1 second' END`;
  await waitFor("4 rows recorded", async () => (await rig.rows()).every((r) => r.run_count >= 1), 10_000, 100);
  const rows = await waitFor("4 history rows", async () => {
    const found = await historyRows(rig.db.sql);
    return found.length >= 4 ? found : null;
  });
  // The late row is on a 1-second grid: once caught up it fires every second, so later rows of it
  // may be there too. The hourly ones fired once each; the catch-up carried the capped count.
  expect([...new Set(rows.map((r) => r.schedule_id))].sort()).toEqual([...normal, late!].sort());
  for (const id of normal) expect(rows.filter((r) => r.schedule_id === id)).toHaveLength(1);
  const lateRows = rows.filter((r) => r.schedule_id === late);
  expect(lateRows.filter((r) => r.missed_runs === 2_147_483_647)).toHaveLength(1);
  expect(duplicates(rig.messageIds())).toEqual([]);
  expect(scheduler.output()).not.toMatch(/set aside|Fire history not written/);
}, 30_000);
