/**
 * No row stops the others (docs/design.md §14): real rows with values at and past the edges of what can be
 * computed or recorded, beside normal ones. The normal rows fire once, each edge row gets its
 * own outcome, nothing is published twice, and the scheduler keeps running.
 */
import { expect, test } from "bun:test";
import { duplicates } from "../support/faults.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();

interface Row {
  id: number;
  run_count: number;
  failure_count: number;
  last_error: string | null;
  next_text: string;
  next_ms: number | null;
}

test("'-infinity', 'infinity', year 9999, a century late, the largest interval and run_count at the int4 limit: every other row fires once", async () => {
  const rig = await scope.rig();
  const normal = await insertSchedules(
    rig.db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  const [workflow] = await rig.db.sql<
    { id: number }[]
  >`INSERT INTO workflows (name, workflow_data) VALUES ('edge', '{}') RETURNING id`;
  const edge = async (nextRunAt: string, intervalSeconds: number, runCount = 0) => {
    const [row] = await rig.db.sql<{ id: number }[]>`
      INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds, run_count)
      VALUES (${workflow!.id}, ${rig.db.sql.unsafe(nextRunAt)}, ${intervalSeconds}, ${runCount}) RETURNING id`;
    return row!.id;
  };
  const minusInfinity = await edge("'-infinity'", 60);
  const plusInfinity = await edge("'infinity'", 60);
  const year9999 = await edge("'9999-12-31 23:59:59'", 60);
  const centuryLate = await edge("(now() AT TIME ZONE 'UTC') - interval '100 years'", 60);
  const largestInterval = await edge("(now() AT TIME ZONE 'UTC') - interval '1 second'", 2_147_483_647);
  const runCountAtLimit = await edge("(now() AT TIME ZONE 'UTC') - interval '1 second'", 3600, 2_147_483_647);

  const scheduler = rig.start();
  const rowsOf = () =>
    rig.db.sql<Row[]>`
      SELECT id, run_count, failure_count, last_error, next_run_at::text AS next_text,
             CASE WHEN isfinite(next_run_at) THEN (extract(epoch FROM next_run_at) * 1000)::float8 END AS next_ms
        FROM scheduled_workflows ORDER BY id`;
  const byId = async () => new Map((await rowsOf()).map((r) => [r.id, r]));
  const fired = [...normal, centuryLate, largestInterval, runCountAtLimit];
  await waitFor(`${fired.length} messages`, () => new Set(rig.messageIds()).size === fired.length, 15_000);
  // Nothing more happens over two more polls: nothing is published again.
  const checks = (await rig.metric("checks_total")) ?? 0;
  await waitFor("two more polls", async () => ((await rig.metric("checks_total")) ?? 0) >= checks + 2, 10_000, 100);
  expect(duplicates(rig.messageIds())).toEqual([]);
  expect(rig.messageIds()).toHaveLength(fired.length);

  const rows = await byId();
  for (const id of normal) expect(rows.get(id)).toMatchObject({ run_count: 1, failure_count: 0, last_error: null });
  // Never claimed, never modified.
  expect(rows.get(minusInfinity)).toMatchObject({ run_count: 0, last_error: null, next_text: "-infinity" });
  expect(rows.get(plusInfinity)).toMatchObject({ run_count: 0, last_error: null, next_text: "infinity" });
  expect(rows.get(year9999)).toMatchObject({ run_count: 0, last_error: null, next_text: "9999-12-31 23:59:59" });
  // A century late on a minute grid: one fire, about 52.6 million missed slots counted, the next on the grid.
  const late = rows.get(centuryLate)!;
  expect(late).toMatchObject({ run_count: 1, failure_count: 0, last_error: null });
  expect(late.next_ms!).toBeGreaterThan(Date.now() - 1_000);
  const lateMessage = rig.queue.messages.find((m) => m.body.schedule_id === centuryLate)!;
  expect(lateMessage.body.missed_runs as number).toBeGreaterThan(52_500_000);
  // 2^31−1 seconds is 68 years: the next slot is that far on, and PostgreSQL stores it.
  const far = rows.get(largestInterval)!;
  expect(far).toMatchObject({ run_count: 1, failure_count: 0, last_error: null });
  expect(far.next_ms! - Date.now()).toBeGreaterThan(2_147_483_647_000 - 60_000);
  // run_count + 1 overflows int4: the UPDATE refuses this row alone; it is moved on, saying why.
  const full = rows.get(runCountAtLimit)!;
  expect(full.run_count).toBe(2_147_483_647);
  expect(full.next_ms!).toBeGreaterThan(Date.now());
  expect(full.last_error).toStartWith("rune-scheduler could not record this fire (ok): integer out of range");

  // The lines come through the output pipes, which may lag what /metrics and the rows show.
  await scheduler.waitForLine(new RegExp(`Schedule ${plusInfinity} is active but invalid`), 5_000);
  await scheduler.waitForLine(new RegExp(`Schedule ${minusInfinity} is active but invalid`), 5_000);
  await scheduler.waitForLine(new RegExp(`Schedule ${runCountAtLimit}: the database refused its outcome`), 5_000);
  const output = scheduler.output();
  expect(
    output.match(new RegExp(`Schedule ${minusInfinity} is active but invalid \\(next_run_at is not finite\\)`, "g")),
  ).toHaveLength(1);
  expect(output).toContain(`Schedule ${plusInfinity} is active but invalid (next_run_at is not finite)`);
  expect(output).toContain(`Schedule ${runCountAtLimit}: the database refused its outcome (integer out of range)`);
  expect(output).not.toMatch(/CRITICAL|Uncaught|HEALTHCHECK FAILED/);
  expect(await rig.readyz()).toBe(200);
  expect(await rig.metric("invalid_schedules")).toBe(2);
  expect(scheduler.proc.exitCode).toBeNull();
}, 40_000);
