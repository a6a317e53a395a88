/**
 * The console's select-then-act (docs/console.md, docs/design.md §25) and its view of the
 * policy columns, on the compiled binary: a bulk request without `confirm` answers the preview
 * and changes nothing; with it every selected schedule changes in one transaction with one audit
 * line each; the detail lists the next slots with their jittered times and marks the last one.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dueAt } from "../../src/schedule/jitter.ts";
import { startWithConsole } from "../support/console.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules } from "../support/services.ts";

const scope = testScope();
const TOKEN = "e2e-console-bulk-token-0123456789";
const MIGRATION = readFileSync(
  new URL("../../scripts/migrations/003_schedule_policy_columns.sql", import.meta.url),
  "utf8",
);

test("select, preview, confirm: pause several schedules in one transaction, one audit line each", async () => {
  const { db, scheduler, base } = await startWithConsole(scope, TOKEN, {});
  const act = (path: string, body: unknown) =>
    fetch(`${base}/console/api/${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", origin: base },
      body: JSON.stringify(body),
    });
  const ids = await insertSchedules(db.sql, [
    { dueInMs: 3_600_000, intervalSeconds: 3600, name: "a" },
    { dueInMs: 3_600_000, intervalSeconds: 60, name: "b" },
  ]);
  const active = async () =>
    (
      await db.sql<
        { is_active: boolean }[]
      >`SELECT is_active FROM scheduled_workflows WHERE id = ANY(${ids}) ORDER BY id`
    ).map((r) => r.is_active);

  const preview = await act("bulk/pause", { ids, reason: "incident" });
  expect(preview.status).toBe(200);
  const shown = await preview.json();
  expect(shown).toMatchObject({ ok: true, preview: true });
  expect(shown.targets.map((t: { id: number; schedule: string }) => [t.id, t.schedule])).toEqual([
    [ids[0], "every 1h"],
    [ids[1], "every 1m"],
  ]);
  expect(await active()).toEqual([true, true]);

  const unknown = await act("bulk/pause", { ids: [...ids, 999_999], confirm: true });
  expect(unknown.status).toBe(404);
  expect(await active()).toEqual([true, true]);
  expect((await act("bulk/pause", { ids: [], confirm: true })).status).toBe(400);
  expect((await act("bulk/delete", { ids })).status).toBe(404);

  const done = await act("bulk/pause", { ids, reason: "incident", confirm: true });
  expect(done.status).toBe(200);
  expect((await done.json()).results.map((r: { id: number }) => r.id)).toEqual(ids);
  expect(await active()).toEqual([false, false]);
  for (const id of ids)
    expect(scheduler.output()).toContain(
      `CONSOLE ACTION pause schedule=${id} from=127.0.0.1: ok paused schedule ${id}: last_error "paused by operator: incident"`,
    );

  // resume refuses as a whole when one row is invalid: nothing changes.
  await db.sql`UPDATE scheduled_workflows SET interval_seconds = 0 WHERE id = ${ids[1]!}`;
  const refused = await act("bulk/resume", { ids, confirm: true });
  expect(refused.status).toBe(409);
  expect(await active()).toEqual([false, false]);
  expect(scheduler.output()).not.toContain(TOKEN);
});

test("the detail shows the policy columns, the next slots with their jittered times, and the last one before ends_at", async () => {
  const { db, base } = await startWithConsole(scope, TOKEN, {});
  await db.sql.unsafe(MIGRATION);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60, name: "jittered" }]);
  await db.sql`UPDATE scheduled_workflows SET jitter_seconds = 30, misfire_policy = 'skip',
                 ends_at = next_run_at + interval '3 minutes' WHERE id = ${id!}`;
  const [{ next_ms: nextMs }] = (await db.sql`
    SELECT (extract(epoch FROM next_run_at) * 1000)::float8 AS next_ms FROM scheduled_workflows WHERE id = ${id!}`) as unknown as [
    { next_ms: number },
  ];
  const answer = await fetch(`${base}/console/api/schedules/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const detail = await answer.json();
  expect(detail.schedule.schedule).toMatch(/^every 1m, misfire skip, jitter 30s, ends \d{4}-/);
  expect(detail.schedule.state).toBe("active");
  expect(
    detail.nextSlots.map((s: { ms: number; dueMs: number; last?: boolean }) => [s.ms, s.dueMs, s.last ?? false]),
  ).toEqual([0, 1, 2, 3].map((k) => [nextMs + k * 60_000, dueAt(id!, nextMs + k * 60_000, 30), k === 3]));
});
