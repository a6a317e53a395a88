/**
 * The console's history reads (docs/console.md §3): a schedule's fires from the history table
 * (every replica's, not this process's memory) paged newest first, and the activity of operator
 * actions; both say when the tables are missing.
 */
import { expect, test } from "bun:test";
import { startWithConsole, startWithoutHistoryGrant } from "../support/console.ts";
import { addHistoryTables } from "../support/history.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules } from "../support/services.ts";

const scope = testScope();
const TOKEN = "history-console-token-0123456789";

async function started() {
  const { db, base } = await startWithConsole(scope, TOKEN);
  const get = async (path: string) => {
    const response = await fetch(`${base}/console/api/${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: response.status, body: await response.json() };
  };
  return { db, base, get };
}

test("a schedule's history: every replica's fires, 25 a page, newest first, the cursor exact to the microsecond", async () => {
  const { db, get } = await started();
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  // 60 fires by three replicas, recorded a second apart (as another process would have written them).
  await db.sql`
    INSERT INTO scheduler_fire_history (schedule_id, slot, message_id, outcome, replica, run_number, recorded_at, lag_seconds)
    SELECT ${id!}, timestamptz '2026-01-01' + g * interval '1 minute', ${id!} || ':' || g, 'published', 'r' || (g % 3), g,
           timestamptz '2026-01-01' + g * interval '1 minute' + interval '0.000123 second', 0.01
      FROM generate_series(1, 60) g`;
  const first = await get(`schedules/${id}/history`);
  expect(first.status).toBe(200);
  expect(first.body.available).toBe(true);
  expect(first.body.fires).toHaveLength(25);
  expect(first.body.fires[0]).toMatchObject({ runNumber: 60, replica: "r0", outcome: "published", lagSeconds: 0.01 });
  expect(first.body.next).toBe("2026-01-01T00:36:00.000123Z");
  const second = await get(`schedules/${id}/history?before=${encodeURIComponent(first.body.next)}`);
  const third = await get(`schedules/${id}/history?before=${encodeURIComponent(second.body.next)}`);
  const runs = [...first.body.fires, ...second.body.fires, ...third.body.fires].map(
    (f: { runNumber: number }) => f.runNumber,
  );
  expect(runs).toEqual(Array.from({ length: 60 }, (_, i) => 60 - i));
  expect(third.body.next).toBeNull();
  expect(
    new Set(runs.map((_, i) => [...first.body.fires, ...second.body.fires, ...third.body.fires][i].replica)),
  ).toEqual(new Set(["r0", "r1", "r2"]));
  expect((await get(`schedules/${id}/history?before=yesterday`)).status).toBe(400);
  expect((await get(`schedules/${id}/history?page=2`)).status).toBe(400);
});

test("activity: operator actions from the CLI and the console, newest first; without the tables it says so", async () => {
  const { db, base, get } = await started();
  expect((await get("activity")).body).toEqual({ ok: true, available: false, actions: [], next: null });
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  expect((await get(`schedules/${id}/history`)).body.available).toBe(false);
  await addHistoryTables(db.sql);
  const act = (verb: string, body: unknown) =>
    fetch(`${base}/console/api/schedules/${id}/${verb}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", origin: base },
      body: JSON.stringify(body),
    });
  expect((await act("pause", { reason: "first" })).status).toBe(200);
  expect((await act("resume", {})).status).toBe(200);
  const { body } = await get("activity");
  expect(body.available).toBe(true);
  expect(
    body.actions.map((a: { action: string; scheduleIds: number[]; reason: string | null }) => [
      a.action,
      a.scheduleIds,
      a.reason,
    ]),
  ).toEqual([
    ["resume", [id], null],
    ["pause", [id], "first"],
  ]);
  expect(body.actions[0].actor).toStartWith("console 127.0.0.1 token scrypt:");
  expect(body.next).toBeNull();
});

test("a cursor shaped right but not a real time (February 30, hour 24, year 0) is a 400 naming it, not a 500", async () => {
  const { db, get } = await started();
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  // Rows to compare the cursor with: on empty tables PostgreSQL would never read it.
  await db.sql`INSERT INTO scheduler_fire_history (schedule_id, slot, outcome, replica) VALUES (${id!}, now(), 'published', 'r')`;
  await db.sql`INSERT INTO scheduler_audit (actor, source, action, schedule_ids, outcome) VALUES ('cli a', 'cli', 'pause', ARRAY[${id!}::int4], 'paused')`;
  for (const cursor of ["2026-02-30T00:00:00.000000Z", "2026-02-28T24:00:00.000000Z", "0000-01-01T00:00:00.000000Z"]) {
    for (const path of [`schedules/${id}/history`, "activity"]) {
      const { status, body } = await get(`${path}?before=${encodeURIComponent(cursor)}`);
      expect([path, cursor, status]).toEqual([path, cursor, 400]);
      expect(body.error).toContain(cursor);
    }
  }
  expect((await get(`schedules/${id}/history?before=2026-02-28T23:59:59.999999Z`)).status).toBe(200);
});

test("two fires in one millisecond on either side of a page's end: the next page starts at the second, none skipped", async () => {
  const { db, get } = await started();
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  // 26 fires a minute apart; the 26th (the oldest) 73 microseconds before the 25th, in its millisecond.
  await db.sql`
    INSERT INTO scheduler_fire_history (schedule_id, slot, outcome, replica, run_number, recorded_at)
    SELECT ${id!}, timestamptz '2026-01-01', 'published', 'r', g,
           CASE WHEN g = 1 THEN timestamptz '2026-01-01 00:02:00.00005Z'
                ELSE timestamptz '2026-01-01' + g * interval '1 minute' + interval '0.000123 second' END
      FROM generate_series(1, 26) g`;
  const first = await get(`schedules/${id}/history`);
  expect(first.body.next).toBe("2026-01-01T00:02:00.000123Z");
  const second = await get(`schedules/${id}/history?before=${encodeURIComponent(first.body.next)}`);
  expect(second.body.fires.map((f: { runNumber: number }) => f.runNumber)).toEqual([1]);
});

test("activity: a bulk action's rows share one time; paging goes through all of them, none skipped or repeated", async () => {
  const { db, get } = await started();
  await addHistoryTables(db.sql);
  // One transaction, as a bulk pause of 60 schedules writes them: one `at` for all.
  await db.sql`INSERT INTO scheduler_audit (actor, source, action, schedule_ids, outcome)
               SELECT 'cli a', 'cli', 'pause', ARRAY[g], 'paused' FROM generate_series(1, 60) g`;
  const first = await get("activity");
  expect(first.body.actions).toHaveLength(50);
  expect(first.body.next).not.toBeNull();
  const second = await get(`activity?before=${encodeURIComponent(first.body.next)}`);
  expect(second.status).toBe(200);
  const seen = [...first.body.actions, ...second.body.actions].map((a: { scheduleIds: number[] }) => a.scheduleIds[0]);
  expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => 60 - i));
  expect(second.body.next).toBeNull();
});

test("a database user that may read the schedules but not the history: 403 saying so with the GRANT, not a 500", async () => {
  const { id, user, base } = await startWithoutHistoryGrant(scope, TOKEN);
  const get = async (path: string) => {
    const response = await fetch(`${base}/console/api/${path}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return { status: response.status, body: await response.json() };
  };
  const grant = (table: string) =>
    `PostgreSQL user "${user}" may not read the history (no SELECT on ${table}); to let it, run GRANT SELECT ON ${table} TO ${user}`;
  expect(await get(`schedules/${id}/history`)).toEqual({
    status: 403,
    body: { ok: false, error: grant("scheduler_fire_history") },
  }); // was: 500, with the grant hint of scheduled_workflows
  expect(await get("activity")).toEqual({ status: 403, body: { ok: false, error: grant("scheduler_audit") } });
  // The schedules themselves still read.
  expect((await get(`schedules/${id}`)).status).toBe(200);
});
