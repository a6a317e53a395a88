/**
 * The poll's next due time and the claim's due-now condition with jitter (docs/design.md §23)
 * against the real database: the first slot without jitter is found by the index, a jittered
 * row only when its jittered time comes first, and neither the poll nor the claim ever takes a
 * jittered slot for its due time, nor loses one that is due.
 *
 * Times are placed relative to the database clock with seconds of margin; each jittered slot is
 * chosen (in JavaScript, with src/schedule/jitter.ts) so that its offset lands in a wanted range.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Sql } from "../../src/postgres/client.ts";
import { claimDue, poll, scheduleColumns } from "../../src/postgres/store.ts";
import { dueAt, jitterOffsetMs } from "../../src/schedule/jitter.ts";
import { testScope } from "../support/scope.ts";
import type { TestDatabase } from "../support/services.ts";

const scope = testScope();
const MIGRATION = readFileSync(
  new URL("../../scripts/migrations/003_schedule_policy_columns.sql", import.meta.url),
  "utf8",
);
const JITTER_S = 60;
const LOOK_AHEAD_MS = 120_000;
const ROLLBACK = Symbol("rollback");

interface World {
  readonly db: TestDatabase;
  readonly sql: Sql;
  /** The database's now, in whole ms, when the rows were placed. */
  readonly t: number;
  readonly workflowId: number;
}

async function world(): Promise<World> {
  const db = await scope.database();
  await db.sql.unsafe(MIGRATION);
  const [workflow] = await db.sql<{ id: number }[]>`
    INSERT INTO workflows (name, workflow_data) VALUES ('jitter-poll', '{}') RETURNING id`;
  const [now] = await db.sql<{ ms: number }[]>`SELECT floor(extract(epoch FROM now()) * 1000)::float8 AS ms`;
  return { db, sql: db.sql as unknown as Sql, t: now!.ms, workflowId: workflow!.id };
}

const at = (ms: number) => new Date(ms).toISOString();

/** A schedule without jitter whose slot is `slotMs`. */
async function plain(w: World, slotMs: number): Promise<number> {
  const [row] = await w.db.sql<{ id: number }[]>`
    INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds)
    VALUES (${w.workflowId}, (${at(slotMs)}::timestamptz AT TIME ZONE 'UTC'), 3600) RETURNING id`;
  return row!.id;
}

/**
 * A jittered schedule whose slot is at or just after `fromMs` and whose offset lies in
 * [minOffsetMs, maxOffsetMs): returns its id, slot and jittered time.
 */
async function jittered(w: World, fromMs: number, minOffsetMs: number, maxOffsetMs: number) {
  const [row] = await w.db.sql<{ id: number }[]>`
    INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds, jitter_seconds)
    VALUES (${w.workflowId}, NULL, 3600, ${JITTER_S}) RETURNING id`;
  const id = row!.id;
  let slotMs = fromMs;
  while (!(jitterOffsetMs(id, slotMs, JITTER_S) >= minOffsetMs && jitterOffsetMs(id, slotMs, JITTER_S) < maxOffsetMs))
    slotMs++;
  await w.db
    .sql`UPDATE scheduled_workflows SET next_run_at = (${at(slotMs)}::timestamptz AT TIME ZONE 'UTC') WHERE id = ${id}`;
  return { id, slotMs, dueMs: dueAt(id, slotMs, JITTER_S) };
}

const nextSlot = async (w: World) => (await poll(w.sql, LOOK_AHEAD_MS, [], await scheduleColumns(w.sql))).nextSlotMs;

test("the poll's next due time: a plain slot, or a jittered time that comes before it, never a jittered row's slot", async () => {
  const w = await world();
  // Slot earlier than the plain one, jittered time later: the plain slot is next.
  const late = await jittered(w, w.t + 10_000, 30_000, 50_000);
  const plainSlot = w.t + 20_000;
  await plain(w, plainSlot);
  expect(late.slotMs).toBeLessThan(plainSlot);
  expect(late.dueMs).toBeGreaterThan(plainSlot);
  expect(await nextSlot(w)).toBe(plainSlot);

  // A second jittered row, slot after the first's, jittered time before the plain slot: it is next.
  const early = await jittered(w, w.t + 12_000, 0, 5_000);
  expect(early.dueMs).toBeLessThan(plainSlot);
  expect(await nextSlot(w)).toBe(early.dueMs);

  // With the plain row gone, the earliest jittered time, not the earliest slot.
  await w.db.sql`DELETE FROM scheduled_workflows WHERE jitter_seconds IS NULL`;
  const third = await jittered(w, w.t + 14_000, 0, 1_000);
  expect(await nextSlot(w)).toBe(Math.min(early.dueMs, third.dueMs));
  await w.db.sql`DELETE FROM scheduled_workflows WHERE id IN (${early.id}, ${third.id})`;
  expect(await nextSlot(w)).toBe(late.dueMs);
});

test("the claim and the due count: a jittered slot waits for its jittered time, and a due one behind or before plain rows is taken", async () => {
  const w = await world();
  // Slot 30 s ago, jittered time still 10 s or more ahead: not due.
  const waiting = await jittered(w, w.t - 30_000, 40_000, 50_000);
  // Slot 40 s ago (before every other row), jittered time passed: due.
  const passed = await jittered(w, w.t - 40_000, 0, 20_000);
  const plainDue = await plain(w, w.t - 20_000);
  await plain(w, w.t + 30_000);
  expect(waiting.dueMs).toBeGreaterThan(w.t + 5_000);

  const columns = await scheduleColumns(w.sql);
  const polled = await poll(w.sql, LOOK_AHEAD_MS, [], columns);
  expect(polled.dueCount).toBe(2);
  // Due rows come first: the next due time is the earliest due one (already past).
  expect(polled.nextSlotMs).toBe(Math.min(passed.dueMs, w.t - 20_000));

  let claimed: number[] = [];
  await w.sql
    .begin(async (tx) => {
      claimed = (await claimDue(tx as unknown as Sql, { limit: 10, columns })).rows.map((r) => r.id);
      throw ROLLBACK;
    })
    .catch((error) => {
      if (error !== ROLLBACK) throw error;
    });
  expect(claimed).toEqual([passed.id, plainDue]);
});
