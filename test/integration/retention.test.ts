/**
 * Retention of the fire history and audit (docs/design.md §22): two pruners at once while a
 * scheduler fires remove exactly the rows past the limits, each once, and nothing else.
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { pruneAudit, pruneFiresByAge, pruneFiresByCount, scheduleIdsAfter } from "../../src/postgres/retention.ts";
import { addHistoryTables } from "../support/history.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, PG, type TestDatabase, waitFor } from "../support/services.ts";

const scope = testScope();
const DAY_S = 86_400;

const count = async (db: TestDatabase, where: postgres.PendingQuery<postgres.Row[]>) =>
  (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM scheduler_fire_history WHERE ${where}`)[0]!.n;

/** Old rows for `ids`: `perSchedule` each, recorded 2 to 3 days ago. */
async function seedOld(db: TestDatabase, ids: readonly number[], perSchedule: number) {
  await db.sql`
    INSERT INTO scheduler_fire_history (schedule_id, slot, message_id, outcome, replica, run_number, recorded_at)
    SELECT s, now() - interval '2 days' - g * interval '1 second', s || ':' || g, 'published', 'old', g,
           now() - interval '2 days' - g * interval '1 second'
      FROM unnest(${ids as number[]}::int4[]) s, generate_series(1, ${perSchedule}) g`;
}

test("by age, two pruners at once while fires go on: every old row deleted once, every recent one kept", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  await addHistoryTables(db.sql);
  const firing = await insertSchedules(
    db.sql,
    Array.from({ length: 20 }, () => ({ dueInMs: -100, intervalSeconds: 1 })),
  );
  await seedOld(db, firing, 300); // 6,000 rows past a 1-day retention
  await db.sql`INSERT INTO scheduler_audit (actor, source, action, schedule_ids, outcome, at)
               SELECT 'cli old', 'cli', 'pause', ARRAY[1], 'paused', now() - interval '100 days' FROM generate_series(1, 1500)`;
  await db.sql`INSERT INTO scheduler_audit (actor, source, action, schedule_ids, outcome) VALUES ('cli new', 'cli', 'pause', ARRAY[1], 'paused')`;
  // The scheduler's own pruner stays out of it (0: keep all), so the counts below are the two pruners'.
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    SCHEDULER_POLL_INTERVAL: "1",
    SCHEDULER_HTTP_PORT: "0",
    SCHEDULER_HISTORY_RETENTION: "0",
    SCHEDULER_AUDIT_RETENTION: "0",
  });
  await waitFor("fires recorded", async () => (await count(db, db.sql`replica <> 'old'`)) >= 40, 15_000, 100);

  const pruners = [0, 1].map(() => postgres({ ...PG, database: db.name, max: 1, onnotice: () => {} }));
  scope.defer(...pruners.map((sql) => () => sql.end({ timeout: 1 })));
  const deleted = await Promise.all(
    pruners.map(async (sql) => {
      let total = 0;
      for (let n = 1; n > 0; total += n) n = await pruneFiresByAge(sql, DAY_S * 1000, 250);
      return total;
    }),
  );
  expect(deleted[0]! + deleted[1]!).toBe(6_000);
  expect(deleted.every((n) => n > 0)).toBe(true); // both took part, neither deleted the other's rows
  expect(await count(db, db.sql`replica = 'old'`)).toBe(0);
  await scheduler.stop("SIGTERM");
  // Every fire the rows record is still in the history.
  const [{ fires, runs }] = (await db.sql`
    SELECT (SELECT count(*)::int FROM scheduler_fire_history) AS fires,
           (SELECT sum(run_count)::int FROM scheduled_workflows) AS runs`) as unknown as [
    { fires: number; runs: number },
  ];
  expect(fires).toBe(runs);

  const audits = await Promise.all(pruners.map((sql) => pruneAudit(sql, 90 * DAY_S * 1000, 2_000)));
  expect(audits[0]! + audits[1]!).toBe(1_500);
  const [{ left }] = (await db.sql`SELECT count(*)::int AS left FROM scheduler_audit`) as unknown as [{ left: number }];
  expect(left).toBe(1);
}, 60_000);

test("by count: each schedule keeps exactly its newest N, in walks of the schedules' ids", async () => {
  const db = await scope.database();
  await addHistoryTables(db.sql);
  const ids = await insertSchedules(
    db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: 3_600_000, intervalSeconds: 60 })),
  );
  await seedOld(db, ids, 40);
  let deleted = 0;
  for (let after = 0; ; ) {
    const walk = await scheduleIdsAfter(db.sql, after, 2);
    if (walk.length === 0) break;
    deleted += await pruneFiresByCount(db.sql, walk, 10);
    after = walk[walk.length - 1]!;
  }
  expect(deleted).toBe(5 * 30);
  const kept = await db.sql<{ schedule_id: number; n: number; oldest: number }[]>`
    SELECT schedule_id, count(*)::int AS n, max(run_number) - min(run_number) AS oldest
      FROM scheduler_fire_history GROUP BY schedule_id ORDER BY schedule_id`;
  // run_number g is recorded g seconds before the 2-day mark: the newest ten are 1..10.
  expect(kept.map((k) => [k.n, k.oldest])).toEqual(Array(5).fill([10, 9]));
  const [{ newest }] = (await db.sql`SELECT max(run_number)::int AS newest FROM scheduler_fire_history`) as unknown as [
    { newest: number },
  ];
  expect(newest).toBe(10);
}, 30_000);

test("the scheduler prunes by itself, and says so", async () => {
  const { db, queue } = await scope.setup();
  await addHistoryTables(db.sql);
  const ids = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  await seedOld(db, ids, 50);
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    SCHEDULER_HTTP_PORT: "0",
    SCHEDULER_HISTORY_RETENTION: "86400",
  });
  await scheduler.waitForLine(/Pruned 50 fire history row\(s\) and 0 audit row\(s\)/, 20_000);
  expect(await count(db, db.sql`true`)).toBe(0);
}, 30_000);
