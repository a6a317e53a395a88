/**
 * pause, resume and trigger on several schedules (docs/commands.md §5, docs/design.md §25) on
 * the compiled binary: by ids or by workflow, the preview, the confirmation (a terminal's "y",
 * or --yes; refused without a terminal), one transaction, one line per row.
 */
import { describe, expect, test } from "bun:test";
import { BINARY, baseEnv, runBinary } from "../support/binary.ts";
import { addHistoryTables } from "../support/history.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, waitFor } from "../support/services.ts";

const scope = testScope();

const states = (db: TestDatabase, ids: number[]) =>
  db.sql<{ id: number; is_active: boolean; last_error: string | null; run_count: number }[]>`
    SELECT id, is_active, last_error, run_count FROM scheduled_workflows WHERE id = ANY(${ids}) ORDER BY id`;

/** Three schedules of workflow "billing" and one of "other". */
async function fixture(db: TestDatabase): Promise<{ billing: number[]; other: number }> {
  const billing = await insertSchedules(db.sql, [
    { dueInMs: 3_600_000, intervalSeconds: 3600, name: "billing" },
    { dueInMs: 3_600_000, intervalSeconds: 3600, name: "other" },
  ]);
  const [{ id: workflowId }] =
    (await db.sql`SELECT workflow_id AS id FROM scheduled_workflows WHERE id = ${billing[0]!}`) as unknown as [
      { id: number },
    ];
  const more = await db.sql<{ id: number }[]>`
    INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds)
    SELECT ${workflowId}, now() AT TIME ZONE 'UTC' + interval '1 hour', 60 FROM generate_series(1, 2) RETURNING id`;
  return { billing: [billing[0]!, ...more.map((r) => r.id)], other: billing[1]! };
}

describe("bulk verbs", () => {
  test("pause --workflow without a terminal or --yes shows the preview and changes nothing", async () => {
    const db = await scope.database();
    const { billing } = await fixture(db);
    const result = await runBinary(["pause", "--workflow", "billing"], db.env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("pause 3 schedule(s):");
    for (const id of billing) expect(result.stderr).toMatch(new RegExp(`\\n  ${id}  billing  active  every `));
    expect(result.stderr).toContain(
      "FAILED pause of 3 schedule(s) needs confirmation and stdin is not a terminal; pass --yes; nothing was changed",
    );
    expect((await states(db, billing)).every((r) => r.is_active)).toBe(true);
  });

  test("pause --workflow on a terminal asks, and 'y' pauses every schedule of the workflow, one line each", async () => {
    const db = await scope.database();
    const { billing, other } = await fixture(db);
    const env = Object.entries(baseEnv(db.env))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(" ");
    // script(1) gives the binary a terminal; "y" is typed at the question.
    const proc = Bun.spawn(
      ["script", "-qec", `env -i ${env} ${BINARY} pause --workflow billing --reason incident`, "/dev/null"],
      {
        stdin: new Blob(["y\n"]),
        stdout: "pipe",
        stderr: "pipe",
        cwd: "/tmp",
      },
    );
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    expect(out).toContain("pause these 3 schedule(s)? [y/N]");
    for (const id of billing)
      expect(out).toContain(`ok paused schedule ${id}: last_error "paused by operator: incident"`);
    expect((await states(db, billing)).map((r) => r.is_active)).toEqual([false, false, false]);
    expect((await states(db, [other]))[0]!.is_active).toBe(true);
  });

  test("resume of several ids with --yes: all in one transaction, so one invalid row leaves every row as it was", async () => {
    const db = await scope.database();
    const { billing } = await fixture(db);
    await db.sql`UPDATE scheduled_workflows SET is_active = false, last_error = 'paused by operator' WHERE id = ANY(${billing})`;
    await db.sql`UPDATE scheduled_workflows SET interval_seconds = 0 WHERE id = ${billing[2]!}`;
    const refused = await runBinary(["resume", ...billing.map(String), "--yes"], db.env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `FAILED schedule ${billing[2]} is invalid (interval_seconds <= 0); fix the row first`,
    );
    expect((await states(db, billing)).map((r) => r.is_active)).toEqual([false, false, false]);
    await db.sql`UPDATE scheduled_workflows SET interval_seconds = 60 WHERE id = ${billing[2]!}`;
    const done = await runBinary(["resume", ...billing.map(String), "--yes", "--json"], db.env);
    expect(done.code).toBe(0);
    const report = JSON.parse(done.stdout);
    expect(report.resumed.map((r: { id: number }) => r.id)).toEqual(billing);
    expect(report.targets.length).toBe(3);
    expect((await states(db, billing)).map((r) => r.is_active)).toEqual([true, true, true]);
  });

  test("trigger --workflow ID --yes publishes one manual message per schedule and records each", async () => {
    const { db, queue } = await scope.setup({ consume: true });
    const { billing } = await fixture(db);
    const [{ workflow_id: workflowId }] =
      (await db.sql`SELECT workflow_id FROM scheduled_workflows WHERE id = ${billing[0]!}`) as unknown as [
        { workflow_id: number },
      ];
    const result = await runBinary(["trigger", "--workflow", String(workflowId), "--yes"], { ...db.env, ...queue.env });
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(result.stdout.trim().split("\n").length).toBe(3);
    await waitFor("three messages", () => queue.messages.length >= 3);
    expect(queue.messages.map((m) => m.body.schedule_id).sort()).toEqual([...billing].sort());
    expect(queue.messages.every((m) => m.body.trigger_source === "manual")).toBe(true);
    expect((await states(db, billing)).map((r) => r.run_count)).toEqual([1, 1, 1]);
  });

  test("an unknown id among several changes nothing; ids and --workflow together are a usage error", async () => {
    const db = await scope.database();
    const { billing } = await fixture(db);
    const unknown = await runBinary(["pause", String(billing[0]), "999999", "--yes"], db.env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("FAILED schedule(s) 999999 do not exist; nothing was changed");
    expect((await states(db, billing)).every((r) => r.is_active)).toBe(true);
    const both = await runBinary(["pause", "1", "--workflow", "billing"], db.env);
    expect([both.code, both.stderr]).toEqual([2, "rune-scheduler: pause: give schedule ids or --workflow, not both\n"]);
  });
});

test("with the audit table, a bulk pause writes one audit row per schedule", async () => {
  const db = await scope.database();
  await addHistoryTables(db.sql);
  const { billing } = await fixture(db);
  const result = await runBinary(["pause", "--workflow", "billing", "--reason", "incident", "--yes"], db.env);
  expect([result.code, result.stderr]).toEqual([0, ""]);
  const audit = await db.sql<{ action: string; schedule_ids: number[]; reason: string; outcome: string }[]>`
    SELECT action, schedule_ids, reason, outcome FROM scheduler_audit ORDER BY id`;
  expect(audit.map((r) => ({ ...r }))).toEqual(
    billing.map((id) => ({ action: "pause", schedule_ids: [id], reason: "incident", outcome: "paused" })),
  );
});
