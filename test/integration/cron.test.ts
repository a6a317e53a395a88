/**
 * Cron rows (docs/contract.md §2, §3; docs/design.md §8) against the real services, through the compiled binary: an every-second
 * expression fires on the second boundaries; a bad expression or zone is warned once and left
 * untouched while its neighbours fire; and a database without the optional columns works as before.
 */
import { expect, test } from "bun:test";
import { runBinary } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, waitFor } from "../support/services.ts";

/** How many polls the scheduler listening on `port` has made, from its /stats. */
const pollsOf = async (port: number) =>
  ((await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { checks: number }).checks;

const scope = testScope();

async function insertCron(
  db: TestDatabase,
  expression: string,
  timezone: string | null,
  dueSql: string,
  name = "cron",
): Promise<number> {
  const [workflow] = await db.sql<
    { id: number }[]
  >`INSERT INTO workflows (name, workflow_data) VALUES (${name}, '{"k": 1}') RETURNING id`;
  const [row] = await db.sql.unsafe<{ id: number }[]>(
    `INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds, cron_expression, timezone)
     VALUES ($1, ${dueSql}, NULL, $2, $3) RETURNING id`,
    [workflow!.id, expression, timezone],
  );
  return row!.id;
}

const rowState = (db: TestDatabase, id: number) =>
  db.sql<
    { next_ms: number; run_count: number; failure_count: number; last_error: string | null; updated_ms: number }[]
  >`
    SELECT (extract(epoch FROM next_run_at) * 1000)::float8 AS next_ms, run_count, failure_count, last_error,
           (extract(epoch FROM updated_at) * 1000)::float8 AS updated_ms
      FROM scheduled_workflows WHERE id = ${id}`.then((rows) => rows[0]!);

test("a `* * * * * *` row fires once a second, each message on its second boundary, next_run_at on the next one", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const id = await insertCron(
    db,
    "* * * * * *",
    "Asia/Kathmandu",
    "date_trunc('second', now() AT TIME ZONE 'UTC') + interval '1 second'",
  );
  const scheduler = scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" });
  await waitFor("four messages", () => queue.messages.length >= 4, 15_000);
  const slots = queue.messages.slice(0, 4).map((m) => Date.parse(m.body.scheduled_for as string));
  for (const slot of slots) expect(slot % 1000).toBe(0);
  // Consecutive seconds: none skipped, none twice.
  expect(slots.slice(1).map((slot, i) => slot - slots[i]!)).toEqual([1000, 1000, 1000]);
  for (const m of queue.messages.slice(0, 4)) {
    expect(m.body).toMatchObject({ schedule_id: id, trigger_source: "scheduler", missed_runs: 0 });
    expect(m.raw.properties.messageId).toBe(`${id}:${Date.parse(m.body.scheduled_for as string)}`);
    // On time: published within a fraction of a second after its boundary.
    expect(m.receivedAt - Date.parse(m.body.scheduled_for as string)).toBeLessThan(900);
  }
  const state = await rowState(db, id);
  expect(state.next_ms % 1000).toBe(0);
  expect(state.failure_count).toBe(0);
  await scheduler.stop();
});

test("a bad expression and an unknown zone are warned once with the parser's reason and never touched; the rows beside them fire", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const bad = await insertCron(
    db,
    "61 * * * *",
    null,
    "now() AT TIME ZONE 'UTC' - interval '1 minute'",
    "bad-expression",
  );
  const zone = await insertCron(
    db,
    "*/5 * * * *",
    "Mars/Olympus",
    "now() AT TIME ZONE 'UTC' - interval '1 minute'",
    "bad-zone",
  );
  const [normal] = await insertSchedules(db.sql, [{ dueInMs: -1_000, intervalSeconds: 3600, name: "normal" }]);
  const good = await insertCron(
    db,
    "0 9 * * MON-FRI",
    "Europe/Berlin",
    "now() AT TIME ZONE 'UTC' - interval '1 second'",
    "good-cron",
  );
  const before = [await rowState(db, bad), await rowState(db, zone)];
  const port = await freePort();
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    SCHEDULER_POLL_INTERVAL: "0.2",
    SCHEDULER_HTTP_PORT: String(port),
  });
  const checks = () => pollsOf(port);
  await waitFor("both valid rows fired", () =>
    [normal, good].every((id) => queue.messages.some((m) => m.body.schedule_id === id)),
  );
  await scheduler.waitForLine(
    new RegExp(
      `Schedule ${bad} is active but invalid \\(cron expression "61 \\* \\* \\* \\*" is invalid: minute 61 is out of range 0-59\\)`,
    ),
  );
  await scheduler.waitForLine(new RegExp(`Schedule ${zone} is active but invalid \\(unknown time zone "Mars/Olympus"`));
  // Several more polls and claims: still untouched, and warned only once each.
  const seen = await checks();
  await waitFor("five more polls", async () => (await checks()) >= seen + 5);
  expect([await rowState(db, bad), await rowState(db, zone)]).toEqual(before);
  expect(queue.messages.filter((m) => [bad, zone].includes(m.body.schedule_id as number))).toEqual([]);
  expect(scheduler.output().split(`Schedule ${bad} `).length - 1).toBe(1);
  expect(scheduler.output()).not.toContain("set aside");
  // The cron row moved to its next time in its zone: a weekday at 09:00 Berlin (07:00 or 08:00 UTC).
  const next = (await rowState(db, good)).next_ms;
  const berlin = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Europe/Berlin",
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
  }).format(next);
  expect(berlin).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 09:00$/);
  await scheduler.stop();

  const stats = await runBinary(["stats", "--json"], { ...db.env, SCHEDULER_HTTP_PORT: "0" });
  expect(stats.code).toBe(0);
  const report = JSON.parse(stats.stdout);
  expect(report.schedules.cron.columns).toEqual({ cronExpression: true, timezone: true });
  expect(report.schedules.cron.invalid.map((r: { id: number }) => r.id)).toEqual([bad, zone]);
  expect(report.schedules.upcoming.map((r: { schedule: string }) => r.schedule).sort()).toEqual([
    "0 9 * * MON-FRI Europe/Berlin",
    "every 1h",
  ]);
  const text = await runBinary(["stats"], { ...db.env, SCHEDULER_HTTP_PORT: "0" });
  expect(text.stdout).toContain("    cron expression or time zone invalid: 2");
  expect(text.stdout).toMatch(
    new RegExp(
      `^ {2}${bad} +bad-expression +61 \\* \\* \\* \\* UTC +cron expression "61 \\* \\* \\* \\*" is invalid: minute 61 is out of range 0-59$`,
      "m",
    ),
  );
  expect(text.stdout).toMatch(/0 9 \* \* MON-FRI Europe\/Berlin/);

  const check = await runBinary(["check-db"], db.env);
  expect(check.code).toBe(0);
  expect(check.stdout).toContain("  cron columns: cron_expression, timezone");
  expect(check.stdout).toContain("  active kinds: ");
  expect(check.stdout).toContain("0 9 * * MON-FRI Europe/Berlin ×1");
  expect(check.stdout).toContain("every 1h ×1");
  expect(check.stdout).toContain(
    `warning: schedule ${zone} (*/5 * * * * Mars/Olympus) is invalid and will not fire until fixed: unknown time zone "Mars/Olympus"`,
  );
});

test("a database without the optional columns works as before: interval rows fire, check-db and stats say interval only", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  await db.sql`ALTER TABLE scheduled_workflows DROP COLUMN cron_expression, DROP COLUMN timezone`;
  const [id] = await insertSchedules(db.sql, [{ dueInMs: -500, intervalSeconds: 60, name: "plain" }]);
  const port = await freePort();
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    SCHEDULER_POLL_INTERVAL: "0.5",
    SCHEDULER_HTTP_PORT: String(port),
  });
  const message = await waitFor("the message", () => queue.messages.find((m) => m.body.schedule_id === id));
  expect(message.body).toMatchObject({ trigger_source: "scheduler", run_number: 1 });
  await waitFor("the row recorded", async () => (await rowState(db, id!)).run_count === 1);
  // The first invalid-row scan follows the first poll: two more polls and it has run, over the table without the columns.
  const seen = await pollsOf(port);
  await waitFor("two more polls", async () => (await pollsOf(port)) >= seen + 2);
  expect(scheduler.output()).not.toMatch(/ERROR|42703|cron_expression/);
  await scheduler.stop();
  const check = await runBinary(["check-db"], db.env);
  expect(check.code).toBe(0);
  expect(check.stdout).toContain(
    "  cron columns: absent, interval schedules only (to add them: scripts/migrations/001_cron_columns.sql)",
  );
  const stats = await runBinary(["stats", "--json"], { ...db.env, SCHEDULER_HTTP_PORT: "0" });
  expect(stats.code).toBe(0);
  expect(JSON.parse(stats.stdout).schedules.cron).toEqual({
    columns: { cronExpression: false, timezone: false },
    invalid: [],
  });
});
