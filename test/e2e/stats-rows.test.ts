/**
 * `stats` and `check-db` name the rows an operator has to act on: every paused or inactive row
 * with who paused it and why, and every invalid row of every kind by id, bounded with "and N more".
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { pauseReason } from "../../src/schedule/slots.ts";
import { runBinary } from "../support/binary.ts";
import { testScope } from "../support/scope.ts";
import type { TestDatabase } from "../support/services.ts";

const scope = testScope();
let db: TestDatabase;
beforeEach(async () => {
  db = await scope.database();
});

const env = () => ({ ...db.env, SCHEDULER_HTTP_PORT: "0" });
/** Times and the database name change from run to run; nothing else does. */
const steady = (text: string) =>
  text
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z/g, "<time>")
    .replaceAll(db.name, "<db>")
    .replace(/(next run +in +schedule\n(?: {2}.*\n)*)/, (block) =>
      block.replace(/ {2}\d+[smhd]( \d+[smhd])? {2}/g, "  <in>  "),
    );

/** One row of each kind an operator must tell apart, ids 1…13 in this order. */
async function seedEveryKind() {
  const sql = db.sql;
  await sql`INSERT INTO workflows (id, name, workflow_data) VALUES (1, 'report', '{}'), (2, 'cleanup', '{}')`;
  await sql`
    INSERT INTO scheduled_workflows (id, workflow_id, is_active, next_run_at, interval_seconds, cron_expression, timezone, failure_count, last_error) VALUES
      (1, 1, true,  (now() AT TIME ZONE 'UTC') + interval '1 hour', 60, NULL, NULL, 0, NULL),
      (2, 1, true,  (now() AT TIME ZONE 'UTC') + interval '1 hour', 60, NULL, NULL, 0, NULL),
      (3, 2, false, (now() AT TIME ZONE 'UTC') + interval '1 hour', 60, NULL, NULL, 5, ${pauseReason(5, "broker nacked the message")}),
      (4, 2, false, (now() AT TIME ZONE 'UTC') + interval '1 hour', 300, NULL, NULL, 0, NULL),
      (5, 99, true, (now() AT TIME ZONE 'UTC'), 60, NULL, NULL, 0, NULL),
      (6, 1, true,  (now() AT TIME ZONE 'UTC'), NULL, NULL, NULL, 0, NULL),
      (7, 1, true,  (now() AT TIME ZONE 'UTC'), 0, NULL, NULL, 0, NULL),
      (8, 1, true,  (now() AT TIME ZONE 'UTC'), -5, NULL, NULL, 0, NULL),
      (9, 1, true,  NULL, 60, NULL, NULL, 0, NULL),
      (10, 1, true, '-infinity', 60, NULL, NULL, 0, NULL),
      (11, 1, true, 'infinity', 60, NULL, NULL, 0, NULL),
      (12, 1, true, (now() AT TIME ZONE 'UTC'), NULL, '61 * * * *', NULL, 0, NULL),
      (13, 1, true, (now() AT TIME ZONE 'UTC'), NULL, '0 9 * * *', 'Mars/Olympus', 0, NULL)`;
  await sql`SELECT setval('scheduled_workflows_id_seq', 13)`;
  const paused = await runBinary(["pause", "2", "--reason", "maintenance"], env());
  expect(paused.code).toBe(0);
}

describe("stats", () => {
  test("shows each paused or inactive row with who paused it and why, and every invalid row by id", async () => {
    await seedEveryKind();
    const result = await runBinary(["stats"], env());
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(steady(result.stdout)).toMatchInlineSnapshot(`
      "Schedules in postgres@127.0.0.1:5432/<db> at <time> (database time)
        total                13
        active               10
        inactive             3
        paused by operator   1
        paused by scheduler  1
        due now              0
        overdue > 30s        0
        failing              1
        workflow missing     1
        invalid (active)     9
          workflow missing: 1
          interval_seconds is NULL: 1
          interval_seconds <= 0: 2
          next_run_at is NULL: 1
          next_run_at is not finite: 2
          cron expression or time zone invalid: 2

      Invalid (active, not fired until fixed)
        id  workflow      schedule                reason
        5   (missing 99)  every 1m                workflow missing
        6   report        interval NULL           interval_seconds is NULL
        7   report        every 0s (invalid)      interval_seconds <= 0
        8   report        every -5s (invalid)     interval_seconds <= 0
        9   report        every 1m                next_run_at is NULL
        10  report        every 1m                next_run_at is not finite
        11  report        every 1m                next_run_at is not finite
        12  report        61 * * * * UTC          cron expression "61 * * * *" is invalid: minute 61 is out of range 0-59
        13  report        0 9 * * * Mars/Olympus  unknown time zone "Mars/Olympus" (invalid time zone: Mars/Olympus)

      Paused or inactive
        id  workflow  state                since                 reason
        2   report    paused by operator   <time>  maintenance
        3   cleanup   paused by scheduler  <time>  after 5 consecutive failed fires; last: broker nacked the message
        4   cleanup   inactive             <time>

      Workflow missing (schedule→workflow_id): #5→99

      Failing longest
        id  workflow  failures  schedule  state     last run  last error
        3   cleanup   5         every 1m  inactive  never     paused by rune-scheduler after 5 consecutive failed fires; …

      Next up
        id  workflow  next run              in  schedule
        1   report    <time>  <in>  every 1m

      Live counters: SCHEDULER_HTTP_PORT=0 and no --url: not asking a running instance
      "
    `);
  });

  test("--json carries the same lists", async () => {
    await seedEveryKind();
    const result = await runBinary(["stats", "--json"], env());
    expect(result.code).toBe(0);
    const h = JSON.parse(result.stdout).schedules;
    expect(h.counts).toMatchObject({ inactive: 3, paused: 1, pausedByOperator: 1 });
    expect(h.paused.map((r: { id: number; by: string | null; reason: string }) => [r.id, r.by, r.reason])).toEqual([
      [2, "operator", "maintenance"],
      [3, "scheduler", "after 5 consecutive failed fires; last: broker nacked the message"],
      [4, null, null],
    ]);
    for (const row of h.paused) expect(row.sinceMs).toBeNumber();
    expect(h.invalid.map((r: { id: number; reason: string }) => [r.id, r.reason])).toEqual([
      [5, "workflow missing"],
      [6, "interval_seconds is NULL"],
      [7, "interval_seconds <= 0"],
      [8, "interval_seconds <= 0"],
      [9, "next_run_at is NULL"],
      [10, "next_run_at is not finite"],
      [11, "next_run_at is not finite"],
      [12, expect.stringContaining("61")],
      [13, expect.stringContaining("Mars/Olympus")],
    ]);
  });

  test("long lists stop at ten rows and say how many more there are", async () => {
    await db.sql`INSERT INTO workflows (id, name) VALUES (1, 'w')`;
    await db.sql`
      INSERT INTO scheduled_workflows (workflow_id, is_active, next_run_at, interval_seconds)
      SELECT 1, i > 12, now() AT TIME ZONE 'UTC', 0 FROM generate_series(1, 25) i`;
    const result = await runBinary(["stats"], env());
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("  and 2 more (paused or inactive: 12)\n");
    expect(result.stdout).toContain("  and 3 more (invalid: 13)\n");
    const check = await runBinary(["check-db"], env());
    expect(check.stdout).toContain("  warning: and 3 more invalid schedule(s) (`check-db --json` lists up to 1000)\n");
  });
});

describe("check-db", () => {
  test("names every invalid row by id with its reason, text and --json", async () => {
    await seedEveryKind();
    const result = await runBinary(["check-db"], env());
    expect(result.code).toBe(0);
    expect(steady(result.stdout).replace(/PostgreSQL \S+/, "PostgreSQL <version>")).toMatchInlineSnapshot(`
      "ok PostgreSQL <version> (Debian 15.20-0+deb12u1) at postgres@127.0.0.1:5432/<db>
        tls 127.0.0.1:5432: not encrypted
        warning: 1 active schedule(s) are invalid (workflow missing) and will not fire until fixed
        warning: 1 active schedule(s) are invalid (interval_seconds is NULL) and will not fire until fixed
        warning: 2 active schedule(s) are invalid (interval_seconds <= 0) and will not fire until fixed
        warning: 1 active schedule(s) are invalid (next_run_at is NULL) and will not fire until fixed
        warning: 2 active schedule(s) are invalid (next_run_at is not finite) and will not fire until fixed
        warning: schedule 5 (every 1m) is invalid and will not fire until fixed: workflow missing
        warning: schedule 6 (interval NULL) is invalid and will not fire until fixed: interval_seconds is NULL
        warning: schedule 7 (every 0s (invalid)) is invalid and will not fire until fixed: interval_seconds <= 0
        warning: schedule 8 (every -5s (invalid)) is invalid and will not fire until fixed: interval_seconds <= 0
        warning: schedule 9 (every 1m) is invalid and will not fire until fixed: next_run_at is NULL
        warning: schedule 10 (every 1m) is invalid and will not fire until fixed: next_run_at is not finite
        warning: schedule 11 (every 1m) is invalid and will not fire until fixed: next_run_at is not finite
        warning: schedule 12 (61 * * * * UTC) is invalid and will not fire until fixed: cron expression "61 * * * *" is invalid: minute 61 is out of range 0-59
        warning: schedule 13 (0 9 * * * Mars/Olympus) is invalid and will not fire until fixed: unknown time zone "Mars/Olympus" (invalid time zone: Mars/Olympus)
        schedules: 13 total, 10 active, 3 inactive, 0 due now
        cron columns: cron_expression, timezone
        active kinds: every 1m ×5, every -5s (invalid) ×1, every 0s (invalid) ×1, interval NULL ×1, 0 9 * * * Mars/Olympus ×1, 61 * * * * UTC ×1
      "
    `);
    const json = JSON.parse((await runBinary(["check-db", "--json"], env())).stdout);
    expect(json.invalid.map((r: { id: number }) => r.id)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13]);
  });
});
