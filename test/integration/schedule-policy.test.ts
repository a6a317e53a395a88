/**
 * Per-schedule policy columns (docs/contract.md §11; docs/design.md §23, §24) against the real
 * services: the SQL jitter formula is the JavaScript one; each misfire policy after a
 * 10-minute outage, through the compiled binary; ends, max runs and a one-shot; bad values are
 * invalid rows that never fire; jittered slots with three replicas and a restart, none lost or
 * twice, none before its jittered time.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Sql } from "../../src/postgres/client.ts";
import { findInvalid } from "../../src/postgres/invalid-rows.ts";
import { dueAt as dueAtSql } from "../../src/postgres/optional-columns.ts";
import { columnsFrom } from "../../src/postgres/store.ts";
import { dueAt, jitterOffsetMs } from "../../src/schedule/jitter.ts";
import { runBinary } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { testScope } from "../support/scope.ts";
import { type TestDatabase, waitFor } from "../support/services.ts";

const scope = testScope();
const MIGRATION = readFileSync(
  new URL("../../scripts/migrations/003_schedule_policy_columns.sql", import.meta.url),
  "utf8",
);
const ALL_COLUMNS = columnsFrom(
  new Set([
    "cron_expression",
    "timezone",
    "misfire_policy",
    "misfire_grace_seconds",
    "ends_at",
    "max_runs",
    "jitter_seconds",
  ]),
);

async function withPolicyColumns(db: TestDatabase): Promise<number> {
  await db.sql.unsafe(MIGRATION);
  const [workflow] = await db.sql<{ id: number }[]>`
    INSERT INTO workflows (name, workflow_data) VALUES ('policy', '{"k": 1}') RETURNING id`;
  return workflow!.id;
}

/** Inserts one schedule; `values` are SQL expressions by column. */
async function insert(db: TestDatabase, workflowId: number, values: Record<string, string>): Promise<number> {
  const columns = ["workflow_id", ...Object.keys(values)];
  const [row] = await db.sql.unsafe<{ id: number }[]>(
    `INSERT INTO scheduled_workflows (${columns.join(", ")}) VALUES ($1, ${Object.values(values).join(", ")}) RETURNING id`,
    [workflowId],
  );
  return row!.id;
}

const row = (db: TestDatabase, id: number) =>
  db.sql<{ is_active: boolean; run_count: number; last_error: string | null; next_ms: number }[]>`
    SELECT is_active, run_count, last_error, (extract(epoch FROM next_run_at) * 1000)::float8 AS next_ms
      FROM scheduled_workflows WHERE id = ${id}`.then((rows) => rows[0]!);

test("PostgreSQL computes the same jittered time as src/schedule/jitter.ts for 10,000 slots", async () => {
  const db = await scope.database();
  const slots = Array.from({ length: 10_000 }, (_, k) => ({
    id: 1 + (k % 97) * 7919,
    slotMs: Date.UTC(2026, 2, 29, 0, 0) + k * 61_001 + (k % 3),
    jitter: 1 + (k % 5) * 900,
  }));
  const due = dueAtSql(db.sql as unknown as Sql, ALL_COLUMNS);
  const rows = await db.sql<{ due_ms: number }[]>`
    SELECT (extract(epoch FROM ${due}) * 1000)::float8 AS due_ms
      FROM unnest(${slots.map((s) => s.id)}::int4[], ${slots.map((s) => s.slotMs)}::float8[], ${slots.map((s) => s.jitter)}::int4[])
           WITH ORDINALITY AS v(id, slot_ms, jitter_seconds, n)
     CROSS JOIN LATERAL (SELECT v.id, to_timestamp(v.slot_ms / 1000.0) AT TIME ZONE 'UTC' AS next_run_at, v.jitter_seconds) sw
     ORDER BY n`;
  const mismatches = slots.filter((s, i) => rows[i]!.due_ms !== dueAt(s.id, Math.floor(s.slotMs), s.jitter));
  expect(mismatches).toEqual([]);
});

test("after a 10-minute outage on a 1-minute schedule: once fires one late slot, skip none, all eleven, each with its own id", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const workflowId = await withPolicyColumns(db);
  // As if every scheduler had been down for 10 min 30 s: next_run_at is that long past.
  const [{ slot_ms: slotMs }] = (await db.sql`
    SELECT (extract(epoch FROM date_trunc('second', now()) - interval '630 seconds') * 1000)::float8 AS slot_ms`) as unknown as [
    { slot_ms: number },
  ];
  const at = `to_timestamp(${slotMs} / 1000.0) AT TIME ZONE 'UTC'`;
  const ids = {
    null: await insert(db, workflowId, { next_run_at: at, interval_seconds: "60" }),
    once: await insert(db, workflowId, { next_run_at: at, interval_seconds: "60", misfire_policy: "'once'" }),
    skip: await insert(db, workflowId, { next_run_at: at, interval_seconds: "60", misfire_policy: "'skip'" }),
    all: await insert(db, workflowId, { next_run_at: at, interval_seconds: "60", misfire_policy: "'all'" }),
  };
  const scheduler = scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" });
  await waitFor("the catch-up", () => queue.messages.length >= 13, 20_000);
  await waitFor("the skip recorded", async () => (await row(db, ids.skip)).next_ms > slotMs);
  // Nothing more is due for 29 s: what is in the queue now is the whole catch-up.
  const of = (id: number) => queue.messages.filter((m) => m.body.schedule_id === id);
  const summary = Object.fromEntries(
    await Promise.all(
      Object.entries(ids).map(async ([policy, id]) => {
        const state = await row(db, id);
        const sent = of(id).map((m) => ({
          id: m.raw.properties.messageId,
          missed: m.body.missed_runs,
          late_s: Math.round((m.receivedAt - Date.parse(m.body.scheduled_for as string)) / 1000),
        }));
        return [
          policy,
          {
            sent,
            run_count: state.run_count,
            next: new Date(state.next_ms).toISOString(),
            last_error: state.last_error,
          },
        ];
      }),
    ),
  );
  console.log(JSON.stringify({ slot: new Date(slotMs).toISOString(), ...summary }, null, 1));
  const slotId = (id: number, k: number) => `${id}:${slotMs + k * 60_000}`;
  for (const policy of ["null", "once"] as const) {
    expect(of(ids[policy]).map((m) => [m.raw.properties.messageId, m.body.missed_runs])).toEqual([
      [slotId(ids[policy], 0), 10],
    ]);
  }
  expect(of(ids.skip)).toEqual([]);
  expect((await row(db, ids.skip)).last_error).toContain("and 10 later slots had passed (misfire_policy skip)");
  expect(of(ids.all).map((m) => m.raw.properties.messageId)).toEqual(
    Array.from({ length: 11 }, (_, k) => slotId(ids.all, k)),
  );
  expect(of(ids.all).every((m) => m.body.missed_runs === 0)).toBe(true);
  for (const id of Object.values(ids)) expect((await row(db, id)).next_ms).toBe(slotMs + 11 * 60_000);
  const metrics = await scheduler.stop();
  expect(metrics).toBe(0);
});

test("a real outage of the binary (stopped for 5 s) on 1-second schedules: once fires one late slot, skip none, all each one; /metrics counts the rest", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const workflowId = await withPolicyColumns(db);
  const soon = "date_trunc('second', now() AT TIME ZONE 'UTC') + interval '2 seconds'";
  const ids = {
    once: await insert(db, workflowId, { next_run_at: soon, interval_seconds: "1", misfire_policy: "'once'" }),
    skip: await insert(db, workflowId, { next_run_at: soon, interval_seconds: "1", misfire_policy: "'skip'" }),
    all: await insert(db, workflowId, { next_run_at: soon, interval_seconds: "1", misfire_policy: "'all'" }),
  };
  const of = (id: number) => queue.messages.filter((m) => m.body.schedule_id === id);
  const env = { ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" };
  const first = scope.start(env);
  await waitFor("every schedule firing", () => Object.values(ids).every((id) => of(id).length >= 2), 15_000);
  expect(await first.stop()).toBe(0);
  const before = Object.fromEntries(Object.entries(ids).map(([policy, id]) => [policy, of(id).length]));
  // The outage: time passing with no scheduler is what this test is about.
  await Bun.sleep(5_000);
  const port = await freePort();
  const second = scope.start({ ...env, SCHEDULER_HTTP_PORT: String(port) });
  await waitFor(
    "the catch-up and one slot more",
    () => Object.values(ids).every((id) => of(id).length > before[policyOf(ids, id)]! + 1),
    15_000,
  );
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  expect(await second.stop()).toBe(0);
  const late = (id: number) =>
    of(id)
      .slice(before[policyOf(ids, id)]!)
      .filter((m) => m.receivedAt - Date.parse(m.body.scheduled_for as string) > 2_000);
  // once: the slot it was due at, late, counting those passed over; skip: nothing late; all: every one, oldest first.
  expect(late(ids.once).length).toBe(1);
  expect(late(ids.once)[0]!.body.missed_runs).toBeGreaterThanOrEqual(3);
  expect(late(ids.skip)).toEqual([]);
  // all: the slots of the outage fired late, and not one slot of the grid is missing or twice.
  expect(late(ids.all).length).toBeGreaterThanOrEqual(2);
  const allSlots = of(ids.all).map((m) => Date.parse(m.body.scheduled_for as string));
  expect(allSlots.slice(1).map((s, i) => s - allSlots[i]!)).toEqual(allSlots.slice(1).map(() => 1000));
  expect(Number(/^rune_scheduler_skipped_misfires_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  expect(Number(/^rune_scheduler_missed_slots_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(6);
});

const policyOf = (ids: Record<string, number>, id: number) => Object.keys(ids).find((key) => ids[key] === id)!;

test("ends: ends_at and max_runs end the row as 'ended'; a one-shot fires once at next_run_at", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const workflowId = await withPolicyColumns(db);
  const soon = "date_trunc('second', now() AT TIME ZONE 'UTC') + interval '1 second'";
  const oneShot = await insert(db, workflowId, { next_run_at: soon, interval_seconds: "NULL", max_runs: "1" });
  const threeRuns = await insert(db, workflowId, { next_run_at: soon, interval_seconds: "1", max_runs: "3" });
  const until = await insert(db, workflowId, {
    next_run_at: soon,
    interval_seconds: "1",
    ends_at: `${soon} + interval '2 seconds'`,
  });
  const scheduler = scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" });
  for (const id of [oneShot, threeRuns, until])
    await waitFor(`schedule ${id} ended`, async () => !(await row(db, id)).is_active, 15_000);
  const count = (id: number) => queue.messages.filter((m) => m.body.schedule_id === id).length;
  expect([count(oneShot), count(threeRuns), count(until)]).toEqual([1, 3, 3]);
  expect((await row(db, oneShot)).last_error).toBe("ended: max_runs 1 reached");
  expect((await row(db, threeRuns)).last_error).toBe("ended: max_runs 3 reached");
  expect((await row(db, until)).last_error).toMatch(/^ended: the next slot .* is after ends_at /);
  const shot = queue.messages.find((m) => m.body.schedule_id === oneShot)!;
  expect(shot.body).toMatchObject({ run_number: 1, missed_runs: 0 });
  expect(shot.raw.properties.messageId).toBe(`${oneShot}:${Date.parse(shot.body.scheduled_for as string)}`);
  expect(await scheduler.stop()).toBe(0);

  // stats shows them as ended (not paused), with the why; check-db names the policy columns.
  const stats = await runBinary(["stats"], { ...db.env, SCHEDULER_HTTP_PORT: "0" });
  expect(stats.code).toBe(0);
  expect(stats.stdout).toContain("paused by scheduler  0");
  for (const id of [oneShot, threeRuns, until]) expect(stats.stdout).toMatch(new RegExp(`\\n +${id} +policy +ended `));
  const check = await runBinary(["check-db"], db.env);
  expect(check.stdout).toContain(
    "  policy columns: misfire_policy, misfire_grace_seconds, ends_at, max_runs, jitter_seconds",
  );
});

test("backfill keeps to ends_at and shows the policy columns; its messages say when a jittered slot was due", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const workflowId = await withPolicyColumns(db);
  const id = await insert(db, workflowId, {
    next_run_at: "'2026-01-01 00:00:00'",
    interval_seconds: "3600",
    ends_at: "'2026-01-01 02:00:00'",
    jitter_seconds: "600",
    misfire_policy: "'all'",
  });
  const run = await runBinary(
    ["backfill", String(id), "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T06:00:00Z", "--yes"],
    { ...db.env, ...queue.env },
  );
  expect(run.stdout + run.stderr).toContain(
    `schedule ${id} (every 1h, misfire all, jitter 10m, ends 2026-01-01T02:00:00.000Z)`,
  );
  expect(run.code).toBe(0);
  await waitFor("three messages", () => queue.messages.length >= 3);
  const slots = [0, 1, 2].map((h) => Date.UTC(2026, 0, 1, h));
  expect(queue.messages.map((m) => [m.raw.properties.messageId, m.body.due_at])).toEqual(
    slots.map((slot) => [`${id}:${slot}`, new Date(dueAt(id, slot, 600)).toISOString()]),
  );
});

test("bad values make the row invalid with its reason, never fired; the row beside them fires", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const workflowId = await withPolicyColumns(db);
  const past = "now() AT TIME ZONE 'UTC' - interval '5 seconds'";
  const bad = {
    "misfire_policy is not once, skip or all": { misfire_policy: "'latest'" },
    "misfire_grace_seconds < 0": { misfire_grace_seconds: "-1" },
    "max_runs < 1": { max_runs: "0" },
    "run_count has reached max_runs": { max_runs: "2", run_count: "2" },
    "jitter_seconds < 0": { jitter_seconds: "-5" },
    "jitter_seconds is not shorter than interval_seconds": { jitter_seconds: "60" },
    "ends_at is before next_run_at": { ends_at: `${past} - interval '1 day'` },
  };
  const ids: Record<string, number> = {};
  for (const [reason, values] of Object.entries(bad))
    ids[reason] = await insert(db, workflowId, { next_run_at: past, interval_seconds: "60", ...values });
  const cronJitter = await insert(db, workflowId, {
    next_run_at: past,
    interval_seconds: "NULL",
    cron_expression: "'0 9,10 * * *'",
    jitter_seconds: "3600",
  });
  const good = await insert(db, workflowId, {
    next_run_at: past,
    interval_seconds: "60",
    misfire_policy: "'skip'",
    jitter_seconds: "1",
  });
  const scheduler = scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" });
  await waitFor("the good row's slot handled", async () => (await row(db, good)).next_ms > Date.now() - 1000, 15_000);
  const invalid = await findInvalid(db.sql as unknown as Sql, 100, ALL_COLUMNS);
  expect(invalid.map((r) => [r.id, r.reason])).toEqual([
    ...Object.entries(ids).map(([reason, id]) => [id, reason]),
    [cronJitter, "jitter_seconds 3600 is not shorter than the 3600s between two times of the cron expression"],
  ]);
  await waitFor(
    "the warnings",
    () => scheduler.output().includes(`Schedule ${cronJitter} is active but invalid`),
    10_000,
  );
  for (const id of [...Object.values(ids), cronJitter]) {
    const state = await row(db, id);
    expect([state.is_active, state.last_error]).toEqual([true, null]);
  }
  expect(queue.messages.filter((m) => m.body.schedule_id !== good)).toEqual([]);
  expect(await scheduler.stop()).toBe(0);
});

test("jitter with three replicas and a restart: each slot once, none before its jittered time, the same time on every replica", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const workflowId = await withPolicyColumns(db);
  const start = "date_trunc('second', now() AT TIME ZONE 'UTC') + interval '2 seconds'";
  const ids: number[] = [];
  for (let i = 0; i < 12; i++)
    ids.push(await insert(db, workflowId, { next_run_at: start, interval_seconds: "2", jitter_seconds: "1" }));
  const env = { ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" };
  const replicas = [scope.start(env), scope.start(env), scope.start(env)];
  await waitFor("slots from every schedule", () => queue.messages.length >= 36, 20_000);
  // A restart of one replica: the others and the new one go on computing the same times.
  expect(await replicas[0]!.stop()).toBe(0);
  replicas[0] = scope.start(env);
  const before = queue.messages.length;
  await waitFor("slots after the restart", () => queue.messages.length >= before + 48, 20_000);
  for (const replica of replicas) expect(await replica.stop()).toBe(0);
  for (const id of ids) {
    const mine = queue.messages.filter((m) => m.body.schedule_id === id);
    const sorted = [...mine].sort(
      (a, b) => Date.parse(a.body.scheduled_for as string) - Date.parse(b.body.scheduled_for as string),
    );
    const slots = sorted.map((m) => Date.parse(m.body.scheduled_for as string));
    // No slot twice, none lost: every slot of the 2 s grid was sent, or counted in the
    // missed_runs of the next message (a claim later than a slot on a loaded machine).
    expect(new Set(slots).size).toBe(slots.length);
    expect(slots.slice(1).map((s, i) => (s - slots[i]!) / 2000 - 1)).toEqual(
      sorted.slice(1).map((m) => m.body.missed_runs as number),
    );
    for (const m of mine) {
      const slot = Date.parse(m.body.scheduled_for as string);
      expect(m.raw.properties.messageId).toBe(`${id}:${slot}`);
      expect(m.body.due_at).toBe(new Date(slot + jitterOffsetMs(id, slot, 1)).toISOString());
      // Fired by the database clock at or after its jittered time.
      expect(Date.parse(m.body.triggered_at as string)).toBeGreaterThanOrEqual(Date.parse(m.body.due_at as string));
    }
  }
});

test("a trigger that brings run_count to max_runs ends the row as a fire would", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const workflowId = await withPolicyColumns(db);
  const id = await insert(db, workflowId, {
    next_run_at: "now() AT TIME ZONE 'UTC' + interval '1 hour'",
    interval_seconds: "3600",
    max_runs: "2",
    run_count: "1",
  });
  const run = await runBinary(["trigger", String(id)], { ...db.env, ...queue.env });
  expect([run.code, run.stderr]).toEqual([0, ""]);
  expect(await row(db, id)).toMatchObject({ is_active: false, run_count: 2, last_error: "ended: max_runs 2 reached" });
});

test("with only some of the columns (jitter_seconds and ends_at, no cron columns) every statement names only those, and both work", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  await db.sql.unsafe(`ALTER TABLE scheduled_workflows DROP COLUMN cron_expression, DROP COLUMN timezone;
    ALTER TABLE scheduled_workflows ADD COLUMN jitter_seconds integer, ADD COLUMN ends_at timestamp`);
  const [workflow] = await db.sql<
    { id: number }[]
  >`INSERT INTO workflows (name, workflow_data) VALUES ('some', '{}') RETURNING id`;
  const [{ id }] = (await db.sql`
    INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds, jitter_seconds, ends_at)
    VALUES (${workflow!.id}, date_trunc('second', now() AT TIME ZONE 'UTC') + interval '1 second', 2, 1,
            date_trunc('second', now() AT TIME ZONE 'UTC') + interval '5 seconds')
    RETURNING id`) as unknown as [{ id: number }];
  const scheduler = scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" });
  await waitFor("the row ended", async () => !(await row(db, id)).is_active, 15_000);
  expect(
    queue.messages.map((m) => Date.parse(m.body.due_at as string) - Date.parse(m.body.scheduled_for as string)),
  ).toEqual(queue.messages.map((m) => jitterOffsetMs(id, Date.parse(m.body.scheduled_for as string), 1)));
  expect(queue.messages.length).toBe(3);
  expect(await scheduler.stop()).toBe(0);
  expect(scheduler.output()).not.toMatch(/does not exist|42703|ERROR/);
  const check = await runBinary(["check-db"], db.env);
  expect(check.stdout).toContain("  policy columns: ends_at, jitter_seconds");
  const stats = await runBinary(["stats", "--json"], { ...db.env, SCHEDULER_HTTP_PORT: "0" });
  expect(JSON.parse(stats.stdout).schedules.policy).toEqual({ columns: ["ends_at", "jitter_seconds"] });
});
