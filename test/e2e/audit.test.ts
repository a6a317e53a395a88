/**
 * The operator audit (docs/contract.md §10): one row per pause, resume, trigger and backfill,
 * from the CLI and from the console, in the transaction of the change; none for an action that
 * rolled back or was refused.
 */

import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { userInfo } from "node:os";
import { runBinary } from "../support/binary.ts";
import { startWithConsole } from "../support/console.ts";
import { addHistoryTables, historyRows } from "../support/history.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, waitFor } from "../support/services.ts";

const scope = testScope();
const TOKEN = "audit-console-token-0123456789";

interface AuditRow {
  actor: string;
  source: string;
  action: string;
  schedule_ids: number[];
  reason: string | null;
  outcome: string;
  detail: Record<string, unknown> | null;
}

const auditRows = (db: TestDatabase) =>
  db.sql<
    AuditRow[]
  >`SELECT actor, source, action, schedule_ids, reason, outcome, detail FROM scheduler_audit ORDER BY id`;

test("from the CLI: each verb's row names the OS user, the schedule, the reason and the outcome; a trigger is a fire in the history", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 3600 }]);
  const env = { ...db.env, ...queue.env };
  const run = async (...args: string[]) => {
    const result = await runBinary(args, env);
    expect([args[0], result.code, result.stderr]).toEqual([args[0], 0, ""]);
  };
  await run("pause", String(id), "--reason", "disk full");
  await run("pause", String(id));
  await run("resume", String(id));
  await run("trigger", String(id));
  await run("backfill", String(id), "--from", "2020-01-01T00:00:00Z", "--to", "2020-01-01T03:00:00Z", "--yes");
  // A preview and a refused verb change nothing: no row.
  await run("backfill", String(id), "--from", "2020-01-01T00:00:00Z", "--to", "2020-01-01T03:00:00Z");
  expect((await runBinary(["trigger", "999999"], env)).code).toBe(1);

  const actor = `cli ${userInfo().username}`;
  const rows = await auditRows(db);
  expect(rows.map((r) => [r.actor, r.source, r.action, r.schedule_ids, r.reason])).toEqual([
    [actor, "cli", "pause", [id!], "disk full"],
    [actor, "cli", "pause", [id!], null],
    [actor, "cli", "resume", [id!], null],
    [actor, "cli", "trigger", [id!], null],
    [actor, "cli", "backfill", [id!], null],
  ]);
  expect(rows.map((r) => r.outcome.replace(/\d{4}-\S+|\d+:manual:\d+/g, "…"))).toEqual([
    "paused",
    "already paused",
    "resumed, next run …",
    "message … confirmed, run 1",
    "published 3 slot(s), all confirmed",
  ]);
  expect(rows[4]!.detail).toEqual({
    from: "2020-01-01T00:00:00.000Z",
    to: "2020-01-01T03:00:00.000Z",
    slots: 3,
    refused: 0,
  });
  await waitFor("the four messages", () => queue.messages.length === 4);
  const [fire] = await historyRows(db.sql);
  expect(fire).toMatchObject({ schedule_id: id, outcome: "published", replica: actor, run_number: 1 });
  expect(fire!.message_id).toBe(rows[3]!.detail!.messageId as string);
}, 60_000);

test("from the console: the source address and the token's label, never the token; refused actions are logged, not recorded", async () => {
  const { db, queue, scheduler, base } = await startWithConsole(scope, TOKEN);
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 3600 }]);
  const act = (verb: string, body: unknown) =>
    fetch(`${base}/console/api/schedules/${id}/${verb}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", origin: base },
      body: JSON.stringify(body),
    });
  expect((await act("pause", { reason: "deploy" })).status).toBe(200);
  expect((await act("trigger", {})).status).toBe(409); // inactive: refused, nothing changed
  expect((await act("resume", {})).status).toBe(200);
  expect((await act("trigger", {})).status).toBe(200);
  const backfill = { from: "2020-01-01T00:00:00Z", to: "2020-01-01T02:00:00Z", confirm: true };
  expect((await act("backfill", backfill)).status).toBe(200);
  await waitFor("three messages", () => queue.messages.length === 3);

  const label = `token sha256:${createHash("sha256").update(TOKEN).digest("hex").slice(0, 8)}`;
  const rows = await auditRows(db);
  expect(rows.map((r) => [r.actor, r.source, r.action, r.reason])).toEqual([
    [`console 127.0.0.1 ${label}`, "console", "pause", "deploy"],
    [`console 127.0.0.1 ${label}`, "console", "resume", null],
    [`console 127.0.0.1 ${label}`, "console", "trigger", null],
    [`console 127.0.0.1 ${label}`, "console", "backfill", null],
  ]);
  expect(JSON.stringify(rows)).not.toContain(TOKEN);
  expect(scheduler.output()).toContain(`CONSOLE ACTION trigger schedule=${id} from=127.0.0.1: failed (inactive)`);
}, 60_000);

test("an action that rolls back leaves no audit row: a commit the database refuses", async () => {
  const { db, queue } = await scope.setup();
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 3600 }]);
  // Refused at COMMIT, after the verb's UPDATE and its audit insert ran in the same transaction.
  await db.sql.unsafe(`
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
    CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER UPDATE ON scheduled_workflows
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse();`);
  const result = await runBinary(["pause", String(id), "--reason", "x"], { ...db.env, ...queue.env });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain("refused at commit");
  expect((await auditRows(db)).length).toBe(0);
  const [row] = await db.sql<{ is_active: boolean }[]>`SELECT is_active FROM scheduled_workflows WHERE id = ${id!}`;
  expect(row!.is_active).toBe(true);
}, 30_000);

test("without the tables the verbs work as before and create nothing", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 3600 }]);
  for (const args of [
    ["pause", String(id)],
    ["resume", String(id)],
    ["trigger", String(id)],
  ]) {
    const result = await runBinary(args, { ...db.env, ...queue.env });
    expect([args[0], result.code]).toEqual([args[0], 0]);
  }
  const [found] = await db.sql<{ tables: number }[]>`
    SELECT count(*)::int AS tables FROM pg_class WHERE relname IN ('scheduler_audit', 'scheduler_fire_history')`;
  expect(found!.tables).toBe(0);
}, 30_000);
