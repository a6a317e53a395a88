/**
 * Publish only what can be recorded, and slow is not failed (docs/design.md §15, §16): a SHARE lock held by
 * another session, a foreign key from another table, a byte budget per batch, and a broker link
 * that is slow but moving. Real locks, real PostgreSQL and RabbitMQ, the fault proxy for the link.
 */
import { expect, test } from "bun:test";
import { duplicates, type Rig } from "../support/faults.ts";
import { testScope } from "../support/scope.ts";
import { bulkInsert, insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();

const measure = (what: string, value: string) => console.log(`[measure] ${what}: ${value}`);

const startReady = (rig: Rig, extra: Record<string, string> = {}) => rig.startRunning(extra);

/** The size of each committed batch, from its "Fired N schedule(s)" line. */
const perBatch = (output: string) => [...output.matchAll(/ INFO Fired (\d+) schedule\(s\)/g)].map((m) => Number(m[1]));

const firedCount = async (rig: Rig) => {
  const [row] = await rig.db.sql<
    { n: number }[]
  >`SELECT count(*)::int AS n FROM scheduled_workflows WHERE run_count > 0`;
  return row!.n;
};

test("a SHARE lock held for 20 s (a plain CREATE INDEX): nothing is published under it, then 200 due rows go once each", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  await bulkInsert(rig.db, 200, 3600, "(now() AT TIME ZONE 'UTC') + interval '1 second'");
  const holder = await rig.db.sql.reserve();
  scope.defer(async () => holder.release());
  await holder`BEGIN`;
  await holder`LOCK TABLE scheduled_workflows IN SHARE MODE`;
  const lockedAt = Date.now();
  try {
    await scheduler.waitForLine(/scheduled_workflows is locked by another session/, 15_000);
    // The rows fell due under the lock: held for 20 s, nothing may be published meanwhile.
    await Bun.sleep(20_000 - (Date.now() - lockedAt));
    expect(rig.queue.messages).toHaveLength(0);
    expect(await firedCount(rig)).toBe(0);
    expect(scheduler.output()).not.toMatch(/ ERROR | CRITICAL /);
  } finally {
    await holder`COMMIT`;
  }
  const releasedAt = Date.now();
  await waitFor("all 200 fired", async () => (await firedCount(rig)) === 200, 20_000, 20);
  measure("SHARE lock released → 200 rows recorded", `${((Date.now() - releasedAt) / 1000).toFixed(2)} s`);
  await waitFor("200 messages", () => new Set(rig.messageIds()).size === 200, 5_000);
  const dupes = duplicates(rig.messageIds());
  measure("duplicates under a 20 s SHARE lock, 200 due rows", String(dupes.length));
  expect(dupes).toEqual([]);
  expect(rig.messageIds()).toHaveLength(200);
  await scheduler.waitForLine(/scheduled_workflows is no longer locked after [\d.]+s; claiming again/, 5_000);
  expect(scheduler.output()).not.toMatch(/ ERROR | CRITICAL /);
}, 60_000);

test("an insert that checks a foreign key to a claimed row is not blocked by the claim (FOR NO KEY UPDATE)", async () => {
  const rig = await scope.rig();
  await rig.db
    .sql`CREATE TABLE runs (id serial PRIMARY KEY, schedule_id int NOT NULL REFERENCES scheduled_workflows (id))`;
  await startReady(rig);
  // Slow confirms hold the claim transaction (and its row locks) open.
  rig.mqProxy.delay(1_500);
  const [id] = await insertSchedules(rig.db.sql, [{ dueInMs: -100, intervalSeconds: 3600 }]);
  await waitFor("the claim transaction to be open", async () => (await rig.openClaims()) > 0, 5_000, 10);
  // The foreign-key check takes FOR KEY SHARE on the row: it conflicts with FOR UPDATE, not with FOR NO KEY UPDATE.
  // lock_timeout makes the insert throw if it waits on the claim's row lock; a wall-clock bound on
  // top of it only measured how loaded the machine was.
  await rig.db.sql.begin(async (tx) => {
    await tx`SET LOCAL lock_timeout = '500ms'`;
    await tx`INSERT INTO runs (schedule_id) VALUES (${id!})`;
  });
  expect(await rig.openClaims()).toBe(1); // the insert went through while the claim was still open
  rig.mqProxy.delay(0);
  await waitFor("the fire", async () => (await firedCount(rig)) === 1, 10_000);
}, 30_000);

test("SCHEDULER_BATCH_BYTES bounds the message bytes of one claim: 30 rows of 200 KB in batches of at most 4", async () => {
  const rig = await scope.rig();
  const payload = { blob: "x".repeat(200_000) };
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 30 }, () => ({ dueInMs: -100, intervalSeconds: 3600, data: payload })),
  );
  const scheduler = await startReady(rig, { SCHEDULER_BATCH_BYTES: "1000000" });
  await waitFor("30 messages", () => new Set(rig.messageIds()).size === 30, 20_000);
  // One INFO line per committed claim says how many it fired.
  await waitFor("30 fires logged", () => perBatch(scheduler.output()).reduce((a, b) => a + b, 0) === 30, 5_000);
  const batches = perBatch(scheduler.output());
  expect(Math.max(...batches)).toBeLessThanOrEqual(4);
  expect(batches.length).toBeGreaterThanOrEqual(8);
  expect(duplicates(rig.messageIds())).toEqual([]);
  expect(scheduler.output()).not.toMatch(/ ERROR | CRITICAL /);
}, 40_000);

test("a slow broker link that keeps confirming: a batch longer than the confirm deadline and than idle_in_transaction_session_timeout goes through once", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  // 24 messages of 500 KB at about 400 KB/s: some 30 s for the batch (two claim lanes share the
  // link), confirms arriving all along: past the 10 s confirm deadline and past the 20 s after
  // which PostgreSQL ends a session idle in its transaction.
  rig.mqProxy.throttle(400_000);
  const payload = { blob: "y".repeat(500_000) };
  const startedAt = Date.now();
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 24 }, () => ({ dueInMs: -100, intervalSeconds: 3600, data: payload })),
  );
  await waitFor("24 rows recorded", async () => (await firedCount(rig)) === 24, 80_000, 100);
  const tookMs = Date.now() - startedAt;
  measure("24 × 500 KB through a 400 KB/s link", `${(tookMs / 1000).toFixed(1)} s`);
  expect(tookMs).toBeGreaterThan(20_000); // longer than idle_in_transaction_session_timeout
  rig.mqProxy.throttle(0);
  await waitFor("24 messages", () => new Set(rig.messageIds()).size === 24, 10_000);
  expect(duplicates(rig.messageIds())).toEqual([]);
  expect(rig.messageIds()).toHaveLength(24);
  const rows = await rig.rows();
  for (const row of rows) expect(row).toMatchObject({ run_count: 1, failure_count: 0, last_error: null });
  expect(scheduler.output()).not.toMatch(/no confirm from the broker| ERROR | CRITICAL /);
  expect(await rig.metric("unknown_outcomes_total")).toBe(0);
}, 120_000);

test("a database-wide error while recording (disk full, 53100) fails the transaction, not the rows: nothing is set aside, every row fires once it clears", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  await rig.db.sql.unsafe(`
    CREATE FUNCTION disk_full() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$ LANGUAGE plpgsql;
    CREATE TRIGGER disk_full BEFORE UPDATE ON scheduled_workflows FOR EACH ROW EXECUTE FUNCTION disk_full();`);
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await scheduler.waitForLine(/PostgreSQL failed \(attempt 2\)/, 15_000);
  await rig.db.sql.unsafe("DROP TRIGGER disk_full ON scheduled_workflows");
  await waitFor("5 rows recorded", async () => (await firedCount(rig)) === 5, 30_000, 100);
  for (const row of await rig.rows()) expect(row).toMatchObject({ run_count: 1, failure_count: 0, last_error: null });
  expect(scheduler.output()).not.toMatch(/set aside|refused its outcome/);
  expect(scheduler.output()).toContain("No space left on device");
  expect(await rig.metric("invalid_schedules")).toBe(0);
}, 60_000);
