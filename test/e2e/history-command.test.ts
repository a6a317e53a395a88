/**
 * `history ID` (docs/commands.md §7) and the last failure `stats` names from the history, on the
 * compiled binary: fires and actions of one schedule newest first, --since, --limit, --json, and
 * a named failure without the tables.
 */
import { expect, test } from "bun:test";
import { runBinary } from "../support/binary.ts";
import { addHistoryTables } from "../support/history.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();

test("fires and actions of one schedule, newest first, with --since, --limit and --json", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  await addHistoryTables(db.sql);
  const [id, other] = await insertSchedules(db.sql, [
    { dueInMs: -3_500, intervalSeconds: 1 },
    { dueInMs: -100, intervalSeconds: 1 },
  ]);
  const env = { ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1", SCHEDULER_HTTP_PORT: "0" };
  const scheduler = scope.start({ ...env, SCHEDULER_INSTANCE_NAME: "replica-h" });
  await waitFor(
    "three fires of the schedule",
    async () => {
      const [row] = await db.sql<{ n: number }[]>`SELECT run_count AS n FROM scheduled_workflows WHERE id = ${id!}`;
      return row!.n >= 3;
    },
    15_000,
    100,
  );
  expect((await runBinary(["pause", String(id), "--reason", "look"], env)).code).toBe(0);
  await scheduler.stop("SIGTERM");

  const json = await runBinary(["history", String(id), "--json"], env);
  expect([json.code, json.stderr]).toEqual([0, ""]);
  const report = JSON.parse(json.stdout);
  expect(report).toMatchObject({ ok: true, command: "history", id, limit: 50, since: null });
  const entries = report.entries as {
    kind: string;
    recordedAt?: string;
    at?: string;
    messageId?: string;
    missedRuns?: number;
  }[];
  expect(entries[0]).toMatchObject({ kind: "action", action: "pause", reason: "look", outcome: "paused" });
  const fires = entries.filter((e) => e.kind === "fire");
  expect(fires.length).toBeGreaterThanOrEqual(3);
  expect(fires[0]).toMatchObject({ outcome: "published", replica: "replica-h" });
  // Newest first, and only this schedule's: its message ids.
  const times = entries.map((e) => e.recordedAt ?? e.at!);
  expect([...times].sort().reverse()).toEqual(times);
  for (const fire of fires) expect(fire.messageId).toStartWith(`${id}:`);
  expect(fires.some((f) => (f.missedRuns ?? 0) > 0)).toBe(true); // 3.5 s late: slots passed over

  const limited = await runBinary(["history", String(id), "--limit", "2"], env);
  expect(limited.code).toBe(0);
  const lines = limited.stdout.trim().split("\n");
  expect(lines[0]).toMatch(
    new RegExp(
      `^ok schedule ${id}: 1 fire\\(s\\) and 1 action\\(s\\), newest first \\(the newest 2; --limit for more\\)$`.replace(
        "^ok ",
        "^",
      ),
    ),
  );
  expect(lines[1]).toMatch(/ {2}action {2}pause by cli \S+: paused \(reason: look\)$/);
  expect(lines[2]).toMatch(
    new RegExp(`fire {4}slot \\S+ {2}published {2}${id}:\\d+ {2}lag \\d+\\.\\d{3}s .*replica replica-h {2}run \\d+$`),
  );

  const since = await runBinary(["history", String(other), "--since", "2100-01-01T00:00:00Z"], env);
  expect(since.stdout).toBe(
    `schedule ${other}: 0 fire(s) and 0 action(s) since 2100-01-01T00:00:00.000Z, newest first\n`,
  );
  const bad = await runBinary(["history", String(id), "--limit", "0"], env);
  expect([bad.code, bad.stderr]).toEqual([
    2,
    'rune-scheduler: history: --limit "0" is invalid: expected a whole number from 1 to 1000\n',
  ]);
}, 60_000);

test("without the tables: a named failure, exit 1", async () => {
  const { db } = await scope.setup();
  const result = await runBinary(["history", "1"], db.env);
  expect(result.code).toBe(1);
  expect(result.stderr).toBe(
    "FAILED this database has no history tables (scheduler_fire_history, scheduler_audit); run scripts/migrations/004_history_tables.sql to start recording\n",
  );
});

test("a user that may read the schedules but not the history: one line naming the GRANT, exit 1", async () => {
  const { db } = await scope.setup();
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  const user = `rune_ro_${db.name.slice(-8)}`;
  await db.sql.unsafe(`CREATE ROLE ${user} LOGIN; GRANT SELECT ON scheduled_workflows, workflows TO ${user}`);
  scope.defer(() => db.sql.unsafe(`DROP OWNED BY ${user}; DROP ROLE ${user}`));
  const env = { ...db.env, POSTGRES_USER: user };
  const result = await runBinary(["history", String(id)], env);
  // Was: a bare permission denied with the hint to grant SELECT and UPDATE on scheduled_workflows.
  expect([result.code, result.stderr]).toEqual([
    1,
    `FAILED PostgreSQL user "${user}" may not read the history (no SELECT on scheduler_fire_history, scheduler_audit); to let it, run GRANT SELECT ON scheduler_fire_history, scheduler_audit TO ${user}\n`,
  ]);
  const json = await runBinary(["history", String(id), "--json"], env);
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, command: "history", failure: "history not readable" });
  // With SELECT on one table only, the other is named.
  await db.sql.unsafe(`GRANT SELECT ON scheduler_audit TO ${user}`);
  expect((await runBinary(["history", String(id)], env)).stderr).toBe(
    `FAILED PostgreSQL user "${user}" may not read the history (no SELECT on scheduler_fire_history); to let it, run GRANT SELECT ON scheduler_fire_history TO ${user}\n`,
  );
});

test("stats names each failing schedule's last failure from the history: its slot and replica", async () => {
  const { db } = await scope.setup();
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  await db.sql`UPDATE scheduled_workflows SET failure_count = 2, last_error = 'unroutable' WHERE id = ${id!}`;
  await db.sql`INSERT INTO scheduler_fire_history (schedule_id, slot, outcome, reason, replica, run_number, recorded_at)
               VALUES (${id!}, '2026-01-01T00:00:00Z', 'failed', 'older', 'r-old', 1, now() - interval '1 hour'),
                      (${id!}, '2026-01-01T00:01:00Z', 'failed', 'unroutable', 'r-new', 2, now())`;
  const json = JSON.parse((await runBinary(["stats", "--json", "--url", "http://127.0.0.1:1"], db.env)).stdout);
  expect(json.schedules.failing[0].lastFailure).toMatchObject({
    slot: "2026-01-01T00:01:00.000000Z",
    replica: "r-new",
    reason: "unroutable",
  });
  const text = (await runBinary(["stats", "--url", "http://127.0.0.1:1"], db.env)).stdout;
  expect(text).toContain("last failure (slot on replica)");
  expect(text).toContain("2026-01-01T00:01:00.000000Z on r-new");
});

test("stats by a user who may not read the history (a monitoring role): the report as before, without the history's column", async () => {
  const { db } = await scope.setup();
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  await db.sql`UPDATE scheduled_workflows SET failure_count = 2, last_error = 'unroutable' WHERE id = ${id!}`;
  await db.sql`INSERT INTO scheduler_fire_history (schedule_id, slot, outcome, reason, replica, run_number)
               VALUES (${id!}, '2026-01-01T00:01:00Z', 'failed', 'unroutable', 'r-new', 2)`;
  const user = `rune_mon_${db.name.slice(-8)}`;
  await db.sql.unsafe(`CREATE ROLE ${user} LOGIN; GRANT SELECT ON scheduled_workflows, workflows TO ${user}`);
  scope.defer(() => db.sql.unsafe(`DROP OWNED BY ${user}; DROP ROLE ${user}`));
  const result = await runBinary(["stats", "--json", "--url", "http://127.0.0.1:1"], {
    ...db.env,
    POSTGRES_USER: user,
  });
  expect([result.code, result.stderr]).toEqual([0, ""]); // was: exit 1, permission denied for table scheduler_fire_history
  const failing = JSON.parse(result.stdout).schedules.failing;
  expect(failing.map((r: { id: number; lastError: string }) => [r.id, r.lastError])).toEqual([[id, "unroutable"]]);
  expect(failing[0].lastFailure).toBeUndefined();
});
