/**
 * The operator verbs (docs/commands.md §5, docs/design.md §21) on the compiled binary against the real services: trigger, pause,
 * resume and backfill, their exit codes and named failure lines, and trigger beside a running
 * scheduler firing the same schedule.
 */
import { describe, expect, test } from "bun:test";
import { runBinary } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, waitFor } from "../support/services.ts";

const scope = testScope();

const row = (db: TestDatabase, id: number) =>
  db.sql<
    {
      is_active: boolean;
      next_ms: number;
      last_run_ms: number | null;
      run_count: number;
      failure_count: number;
      last_error: string | null;
    }[]
  >`
    SELECT is_active, (extract(epoch FROM next_run_at) * 1000)::float8 AS next_ms, (extract(epoch FROM last_run_at) * 1000)::float8 AS last_run_ms,
           run_count, failure_count, last_error
      FROM scheduled_workflows WHERE id = ${id}`.then((rows) => rows[0]!);

async function cronRow(
  db: TestDatabase,
  expression: string,
  zone: string | null,
  dueSql = "now() AT TIME ZONE 'UTC' + interval '1 day'",
): Promise<number> {
  const [workflow] = await db.sql<
    { id: number }[]
  >`INSERT INTO workflows (name, workflow_data) VALUES ('cron-wf', '{"c": 1}') RETURNING id`;
  const [r] = await db.sql.unsafe<{ id: number }[]>(
    `INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds, cron_expression, timezone) VALUES ($1, ${dueSql}, NULL, $2, $3) RETURNING id`,
    [workflow!.id, expression, zone],
  );
  return r!.id;
}

describe("trigger", () => {
  test("publishes one manual message now, records it as a fire, leaves next_run_at alone", async () => {
    const { db, queue } = await scope.setup({ consume: true });
    const [id] = await insertSchedules(db.sql, [
      { dueInMs: 3_600_000, intervalSeconds: 3600, name: "manual-run", data: { a: 1 } },
    ]);
    const before = await row(db, id!);
    const result = await runBinary(["trigger", String(id), "--json"], { ...db.env, ...queue.env });
    expect([result.code, result.stderr]).toEqual([0, ""]);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ ok: true, command: "trigger", id, runNumber: 1, schedule: "every 1h" });
    expect(report.messageId).toMatch(new RegExp(`^${id}:manual:\\d+$`));
    const message = await waitFor("the message", () => queue.messages[0]);
    expect(message.raw.properties.messageId).toBe(report.messageId);
    expect(message.body).toMatchObject({
      schedule_id: id,
      workflow_name: "manual-run",
      workflow_data: { a: 1 },
      trigger_source: "manual",
      run_number: 1,
      missed_runs: 0,
    });
    expect(message.body.scheduled_for).toBe(report.triggeredAt);
    const after = await row(db, id!);
    expect(after).toMatchObject({
      run_count: 1,
      failure_count: 0,
      last_error: null,
      next_ms: before.next_ms,
      is_active: true,
    });
    expect(Math.abs(after.last_run_ms! - Date.parse(report.triggeredAt))).toBeLessThan(1_000);
  });

  test("a trigger while `run` fires the same schedule: every message has its own id, and the row counts each exactly once", async () => {
    const { db, queue } = await scope.setup({ consume: true });
    const [id] = await insertSchedules(db.sql, [{ dueInMs: 200, intervalSeconds: 1, name: "busy" }]);
    const slot0 = (await row(db, id!)).next_ms;
    const scheduler = scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "0.2" });
    await waitFor("the scheduler firing", () => queue.messages.some((m) => m.body.trigger_source === "scheduler"));
    const triggers = await Promise.all(
      Array.from({ length: 6 }, () => runBinary(["trigger", String(id)], { ...db.env, ...queue.env })),
    );
    for (const t of triggers) expect([t.code, t.stderr]).toEqual([0, ""]);
    await waitFor(
      "another scheduled fire after the triggers",
      () => queue.messages.filter((m) => m.body.trigger_source === "scheduler").length >= 3,
    );
    expect(await scheduler.stop()).toBe(0);
    const ids = queue.messages.map((m) => m.raw.properties.messageId as string);
    expect(new Set(ids).size).toBe(ids.length);
    const manual = queue.messages.filter((m) => m.body.trigger_source === "manual");
    expect(manual).toHaveLength(6);
    for (const m of manual) expect(m.raw.properties.messageId).toMatch(new RegExp(`^${id}:manual:\\d+$`));
    // No half-updated row: every confirmed message is counted once, and next_run_at is still on the 1 s grid.
    const after = await row(db, id!);
    if (after.run_count !== queue.messages.length)
      console.log(
        scheduler.output(),
        queue.messages.map((m) => [m.raw.properties.messageId, m.body.trigger_source, m.body.run_number, m.receivedAt]),
      );
    expect(after.run_count).toBe(queue.messages.length);
    expect((after.next_ms - slot0) % 1000).toBe(0);
    expect(after.failure_count).toBe(0);
  });

  test("named failures: unknown id, inactive, invalid, broker unreachable (exit 1); a bad ID (exit 2)", async () => {
    const { db, queue } = await scope.setup();
    const env = { ...db.env, ...queue.env };
    const [inactive] = await insertSchedules(db.sql, [{ dueInMs: 60_000, intervalSeconds: 60 }]);
    await db.sql`UPDATE scheduled_workflows SET is_active = false WHERE id = ${inactive!}`;
    const bad = await cronRow(db, "0 25 * * *", "Europe/Berlin");
    const [ok] = await insertSchedules(db.sql, [{ dueInMs: 60_000, intervalSeconds: 60 }]);
    const results = await Promise.all([
      runBinary(["trigger", "999999"], env),
      runBinary(["trigger", String(inactive)], env),
      runBinary(["trigger", String(bad)], env),
      runBinary(["trigger", String(ok)], {
        ...env,
        RABBITMQ_PORT: String(await freePort()),
        SCHEDULER_CONNECT_TIMEOUT: "2",
      }),
      runBinary(["trigger", "x1"], env),
      runBinary(["trigger"], env),
    ]);
    expect(results.map((r) => [r.code, r.stdout, r.stderr.split("\n").length])).toEqual([
      [1, "", 2],
      [1, "", 2],
      [1, "", 2],
      [1, "", 2],
      [2, "", 2],
      [2, "", 3],
    ]);
    expect(results[0]!.stderr).toBe("FAILED schedule 999999 does not exist\n");
    expect(results[1]!.stderr).toBe(
      `FAILED schedule ${inactive} is inactive, so it is not triggered; \`rune-scheduler resume ${inactive}\` first\n`,
    );
    expect(results[2]!.stderr).toBe(
      `FAILED schedule ${bad} is invalid (cron expression "0 25 * * *" is invalid: hour 25 is out of range 0-23); fix the row first\n`,
    );
    expect(results[3]!.stderr).toMatch(/^FAILED RabbitMQ .*127\.0\.0\.1:\d+/);
    expect(results[4]!.stderr).toBe(
      'rune-scheduler: trigger: ID "x1" is invalid: expected a schedule id (a positive integer)\n',
    );
    expect((await row(db, ok!)).run_count).toBe(0);
    const json = await runBinary(["trigger", "999999", "--json"], env);
    expect([json.code, JSON.parse(json.stdout)]).toEqual([
      1,
      { ok: false, command: "trigger", failure: "unknown id", error: "schedule 999999 does not exist" },
    ]);
  });
});

describe("pause and resume", () => {
  test("pause keeps the reason in last_error; resume reactivates at the next slot of its own grid, failures reset", async () => {
    const { db } = await scope.setup();
    const [id] = await insertSchedules(db.sql, [{ dueInMs: -3 * 3_600_000 - 600_000, intervalSeconds: 3600 }]);
    await db.sql`UPDATE scheduled_workflows SET failure_count = 4, last_error = 'broker nacked' WHERE id = ${id!}`;
    const slot0 = (await row(db, id!)).next_ms;
    const paused = await runBinary(["pause", String(id), "--reason", "vendor outage"], db.env);
    expect([paused.code, paused.stdout, paused.stderr]).toEqual([
      0,
      `ok paused schedule ${id}: last_error "paused by operator: vendor outage"\n`,
      "",
    ]);
    expect(await row(db, id!)).toMatchObject({
      is_active: false,
      last_error: "paused by operator: vendor outage",
      next_ms: slot0,
    });
    const stats = await runBinary(["stats", "--json"], { ...db.env, SCHEDULER_HTTP_PORT: "0" });
    expect(JSON.parse(stats.stdout).schedules.failing[0]).toMatchObject({
      id,
      isActive: false,
      lastError: "paused by operator: vendor outage",
      schedule: "every 1h",
    });
    const resumed = await runBinary(["resume", String(id), "--json"], db.env);
    expect(resumed.code).toBe(0);
    const report = JSON.parse(resumed.stdout);
    const after = await row(db, id!);
    expect(after).toMatchObject({ is_active: true, failure_count: 0, last_error: null });
    // The first slot of the grid after now: 50 minutes ahead, not one of the three missed ones.
    expect((after.next_ms - slot0) % 3_600_000).toBe(0);
    expect(after.next_ms - Date.now()).toBeGreaterThan(0);
    expect(after.next_ms - Date.now()).toBeLessThanOrEqual(3_600_000);
    expect(report).toEqual({
      ok: true,
      command: "resume",
      id,
      wasActive: false,
      nextRunAt: new Date(after.next_ms).toISOString(),
      schedule: "every 1h",
    });
    const again = await runBinary(["resume", String(id)], db.env);
    expect([again.code, again.stdout]).toEqual([
      0,
      `ok schedule ${id} (every 1h) is already active; nothing changed\n`,
    ]);
  });

  test("resume of a cron row moves it to the next time of its expression in its zone", async () => {
    const { db } = await scope.setup();
    const id = await cronRow(db, "0 9 * * *", "Asia/Kathmandu", "now() AT TIME ZONE 'UTC' - interval '5 days'");
    expect((await runBinary(["pause", String(id)], db.env)).code).toBe(0);
    expect((await row(db, id)).last_error).toBe("paused by operator");
    const resumed = await runBinary(["resume", String(id)], db.env);
    expect(resumed.code).toBe(0);
    const next = (await row(db, id)).next_ms;
    expect(new Date(next).toISOString()).toMatch(/T03:15:00\.000Z$/);
    expect(next - Date.now()).toBeGreaterThan(0);
    expect(next - Date.now()).toBeLessThanOrEqual(86_400_000);
    expect(resumed.stdout).toBe(
      `ok resumed schedule ${id} (0 9 * * * Asia/Kathmandu): next run ${new Date(next).toISOString()}\n`,
    );
  });
});

describe("backfill", () => {
  test("lists without --yes; publishes each slot with its own id and trigger_source backfill with --yes, the id the scheduler gave the same slot", async () => {
    const { db, queue } = await scope.setup({ consume: true });
    const [id] = await insertSchedules(db.sql, [{ dueInMs: -100, intervalSeconds: 60, name: "filled" }]);
    const slot0 = Math.floor((await row(db, id!)).next_ms);
    await db.sql`UPDATE scheduled_workflows SET next_run_at = to_timestamp(${slot0} / 1000.0) WHERE id = ${id!}`;
    const scheduler = scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "0.2" });
    const fired = await waitFor("the scheduler's fire", () => queue.messages.find((m) => m.body.schedule_id === id));
    await scheduler.stop();
    const from = new Date(slot0 - 3 * 60_000).toISOString();
    const to = new Date(slot0 + 1).toISOString();
    const listed = await runBinary(["backfill", String(id), "--from", from, "--to", to], { ...db.env, ...queue.env });
    expect(listed.code).toBe(0);
    const slots = [3, 2, 1, 0].map((k) => slot0 - k * 60_000);
    expect(listed.stdout).toBe(
      [
        `ok schedule ${id} (every 1m), ${from} to ${to}: 4 slot(s)`,
        ...slots.map((s) => `  ${new Date(s).toISOString()}  ${id}:${s}`),
        "not published: pass --yes to publish these 4 message(s)",
        "",
      ].join("\n"),
    );
    expect(queue.messages).toHaveLength(1);
    const done = await runBinary(["backfill", String(id), "--from", from, "--to", to, "--yes", "--json"], {
      ...db.env,
      ...queue.env,
    });
    expect([done.code, done.stderr]).toEqual([0, ""]);
    expect(JSON.parse(done.stdout)).toMatchObject({
      ok: true,
      published: true,
      confirmed: 4,
      slots: slots.map((s) => ({ slot: new Date(s).toISOString(), messageId: `${id}:${s}` })),
    });
    await waitFor("four backfill messages", () => queue.messages.length === 5);
    const backfilled = queue.messages.filter((m) => m.body.trigger_source === "backfill");
    expect(backfilled.map((m) => m.raw.properties.messageId)).toEqual(slots.map((s) => `${id}:${s}`));
    expect(backfilled.map((m) => m.body.scheduled_for)).toEqual(slots.map((s) => new Date(s).toISOString()));
    // The slot the scheduler already fired has the same id, so a consumer that saw it drops the copy.
    expect(backfilled.at(-1)!.raw.properties.messageId).toBe(fired.raw.properties.messageId);
    expect((await row(db, id!)).run_count).toBe(1);
  });

  test("backfill messages carry no run_number, so the regular ones stay strictly increasing with no repeat", async () => {
    const { db, queue } = await scope.setup({ consume: true });
    const env = { ...db.env, ...queue.env };
    const [id] = await insertSchedules(db.sql, [{ dueInMs: -100, intervalSeconds: 60, name: "numbered" }]);
    const first = await runBinary(["trigger", String(id)], env);
    expect(first.code).toBe(0);
    const slot = Math.floor((await row(db, id!)).next_ms);
    const from = new Date(slot - 3 * 60_000).toISOString();
    const backfill = await runBinary(
      ["backfill", String(id), "--from", from, "--to", new Date(slot).toISOString(), "--yes"],
      env,
    );
    expect(backfill.code).toBe(0);
    const second = await runBinary(["trigger", String(id)], env);
    expect(second.code).toBe(0);
    await waitFor("five messages", () => queue.messages.length === 5);
    expect(queue.messages.map((m) => [m.body.trigger_source, m.body.run_number])).toEqual([
      ["manual", 1],
      ["backfill", null],
      ["backfill", null],
      ["backfill", null],
      ["manual", 2],
    ]);
  });

  test("slots from before the row was created are left out, where the table has created_at", async () => {
    const { db, queue } = await scope.setup();
    const env = { ...db.env, ...queue.env };
    await db.sql`ALTER TABLE scheduled_workflows ADD COLUMN created_at timestamp DEFAULT (now() AT TIME ZONE 'UTC')`;
    const [id] = await insertSchedules(db.sql, [{ dueInMs: -100, intervalSeconds: 60, name: "young" }]);
    const slot = Math.floor((await row(db, id!)).next_ms);
    await db.sql`UPDATE scheduled_workflows SET created_at = to_timestamp(${slot - 150_000} / 1000.0) AT TIME ZONE 'UTC' WHERE id = ${id!}`;
    const from = new Date(slot - 5 * 60_000).toISOString();
    const to = new Date(slot + 1).toISOString();
    const listed = await runBinary(["backfill", String(id), "--from", from, "--to", to, "--json"], env);
    expect(listed.code).toBe(0);
    const report = JSON.parse(listed.stdout);
    expect(report.slots.map((s: { slot: string }) => s.slot)).toEqual(
      [2, 1, 0].map((k) => new Date(slot - k * 60_000).toISOString()),
    );
    expect(report.createdAt).toBe(new Date(slot - 150_000).toISOString());
    const text = await runBinary(["backfill", String(id), "--from", from, "--to", to], env);
    expect(text.stdout).toContain(
      `(slots before the row was created, ${new Date(slot - 150_000).toISOString()}, are left out)`,
    );
  });

  test("a cron window follows the expression and its zone; over 1000 slots, a future --to, bad times and inactive rows are refused", async () => {
    const { db, queue } = await scope.setup();
    const env = { ...db.env, ...queue.env };
    const id = await cronRow(db, "0 9 * * MON-FRI", "Europe/Berlin");
    const listed = await runBinary(
      ["backfill", String(id), "--from", "2026-03-27T00:00:00Z", "--to", "2026-03-31T00:00:00Z", "--json"],
      env,
    );
    expect(listed.code).toBe(0);
    // Friday 09:00 CET, then Monday 09:00 CEST (after the 29 March change).
    expect(JSON.parse(listed.stdout).slots.map((s: { slot: string }) => s.slot)).toEqual([
      "2026-03-27T08:00:00.000Z",
      "2026-03-30T07:00:00.000Z",
    ]);
    const every = await cronRow(db, "* * * * *", null);
    const many = await runBinary(
      ["backfill", String(every), "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z"],
      env,
    );
    expect([many.code, many.stderr]).toEqual([
      1,
      `FAILED the window holds more than 1000 slots of schedule ${every} (* * * * * UTC); narrow --from/--to (at most 1000 a run)\n`,
    ]);
    const future = await runBinary(
      ["backfill", String(id), "--from", "2026-01-01T00:00:00Z", "--to", "2999-01-01T00:00:00Z"],
      env,
    );
    expect([future.code, future.stderr]).toEqual([1, expect.stringContaining("backfill publishes past slots only")]);
    const noZone = await runBinary(["backfill", String(id), "--from", "2026-01-01T00:00", "--to", "2026-01-02Z"], env);
    expect([noZone.code, noZone.stderr]).toEqual([
      2,
      'rune-scheduler: backfill: --from "2026-01-01T00:00" is invalid: expected an ISO 8601 time with a zone, e.g. 2026-11-25T00:00:00Z\n',
    ]);
    const missing = await runBinary(["backfill", String(id)], env);
    expect([missing.code, missing.stderr]).toEqual([
      2,
      "rune-scheduler: backfill: --from and --to are required: the window [from, to) to fill\n",
    ]);
    const reversed = await runBinary(["backfill", String(id), "--from", "2026-01-02", "--to", "2026-01-01"], env);
    expect(reversed.code).toBe(2);
    await db.sql`UPDATE scheduled_workflows SET is_active = false WHERE id = ${id}`;
    const inactive = await runBinary(
      ["backfill", String(id), "--from", "2026-03-27T00:00:00Z", "--to", "2026-03-31T00:00:00Z"],
      env,
    );
    expect([inactive.code, inactive.stderr]).toEqual([
      1,
      `FAILED schedule ${id} is inactive, so it is not backfilled; \`rune-scheduler resume ${id}\` first\n`,
    ]);
  });
});
