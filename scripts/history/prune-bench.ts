/**
 * `bun scripts/history/prune-bench.ts [--rows N]`: pruning the fire history at
 * scale (docs/performance.md, "Fire history"). Fills a fresh database's scheduler_fire_history
 * with N rows (default 10 million) over 10,000 schedules, recorded_at spread over ten days with
 * the oldest three tenths past a 7-day retention, then prunes them with the scheduler's own
 * batches (src/postgres/retention.ts) and prints: the fill, the total pruning time, rows per
 * second, the slowest batch (the longest any lock is held), a round with nothing to prune, and
 * the sizes before and after. The database is dropped at the end, also on failure.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import {
  COUNT_WALK,
  PRUNE_BATCH_ROWS,
  pruneFiresByAge,
  pruneFiresByCount,
  scheduleIdsAfter,
} from "../../src/postgres/retention.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "10000000" },
    host: { type: "string", default: process.env.POSTGRES_HOST ?? "127.0.0.1" },
  },
});
const ROWS = Number(values.rows);
const SCHEDULES = 10_000;
const DAY_MS = 86_400_000;
const RETENTION_MS = 7 * DAY_MS;

const base = { host: values.host, port: 5432, user: "postgres", onnotice: () => {} };
const name = `rune_prune_bench_${process.pid}`;
const admin = postgres({ ...base, database: "postgres", max: 1 });
await admin.unsafe(`CREATE DATABASE ${name}`);
const sql = postgres({ ...base, database: name, max: 1 });
const seconds = (from: number) => ((performance.now() - from) / 1000).toFixed(1);
const size = async () => {
  const [row] = await sql<{ total: string; heap: string }[]>`
    SELECT pg_size_pretty(pg_total_relation_size('scheduler_fire_history')) AS total,
           pg_size_pretty(pg_relation_size('scheduler_fire_history')) AS heap`;
  return `${row!.total} (table ${row!.heap})`;
};
try {
  const migration = resolve(import.meta.dir, "../migrations/004_history_tables.sql");
  await sql.unsafe(await Bun.file(migration).text());
  await sql`CREATE TABLE scheduled_workflows (id int PRIMARY KEY)`;
  await sql`INSERT INTO scheduled_workflows SELECT generate_series(1, ${SCHEDULES})`;
  let started = performance.now();
  // In chunks of a million, recorded_at ascending with g, as fires arrive.
  const chunk = 1_000_000;
  for (let from = 0; from < ROWS; from += chunk) {
    const to = Math.min(ROWS, from + chunk);
    await sql`
      INSERT INTO scheduler_fire_history
        (schedule_id, slot, message_id, outcome, missed_runs, sent_at, confirmed_at, lag_seconds, replica, run_number, recorded_at)
      SELECT 1 + g % ${SCHEDULES}, t, (1 + g % ${SCHEDULES}) || ':' || (extract(epoch FROM t) * 1000)::bigint, 'published', 0,
             t, t, 0.05, 'bench-host:12345', g / ${SCHEDULES}, t
        FROM generate_series(${from}::bigint, ${to - 1}::bigint) g,
             LATERAL (SELECT now() - make_interval(secs => ${(10 * DAY_MS) / 1000} * (1 - g::float8 / ${ROWS}))) x(t)`;
  }
  await sql`VACUUM ANALYZE scheduler_fire_history`;
  const [{ expired }] = (await sql`
    SELECT count(*)::int AS expired FROM scheduler_fire_history
     WHERE recorded_at < now() - make_interval(secs => ${RETENTION_MS / 1000})`) as unknown as [{ expired: number }];
  console.log(`filled ${ROWS.toLocaleString("en")} rows in ${seconds(started)} s; size ${await size()}`);
  console.log(`past a 7-day retention: ${expired.toLocaleString("en")}`);

  started = performance.now();
  let deleted = 0;
  let batches = 0;
  let slowest = 0;
  for (let n = PRUNE_BATCH_ROWS; n === PRUNE_BATCH_ROWS; ) {
    const t = performance.now();
    n = await pruneFiresByAge(sql, RETENTION_MS);
    slowest = Math.max(slowest, performance.now() - t);
    deleted += n;
    batches += 1;
  }
  const pruneS = (performance.now() - started) / 1000;
  console.log(
    `pruned by age: ${deleted.toLocaleString("en")} rows in ${pruneS.toFixed(1)} s (${Math.round(deleted / pruneS).toLocaleString("en")} rows/s), ${batches} batches of ${PRUNE_BATCH_ROWS}, slowest batch ${slowest.toFixed(0)} ms`,
  );
  let t = performance.now();
  await pruneFiresByAge(sql, RETENTION_MS);
  console.log(
    `a round with nothing to prune, before VACUUM: ${(performance.now() - t).toFixed(1)} ms (it walks the dead index entries)`,
  );
  await sql`VACUUM scheduler_fire_history`;
  t = performance.now();
  await pruneFiresByAge(sql, RETENTION_MS);
  console.log(`a round with nothing to prune, after VACUUM: ${(performance.now() - t).toFixed(1)} ms`);

  // The count limit over every schedule, walk after walk as the pruner does: keep the newest 500
  // of each (~700 left per schedule).
  t = performance.now();
  let byCount = 0;
  let walks = 0;
  slowest = 0;
  for (let walked = 1; walked > 0; walks += 1) {
    walked = 0;
    for (let after = 0; ; ) {
      const ids = await scheduleIdsAfter(sql, after, COUNT_WALK.schedules);
      if (ids.length === 0) break;
      const b = performance.now();
      walked += await pruneFiresByCount(sql, ids, 500);
      slowest = Math.max(slowest, performance.now() - b);
      after = ids[ids.length - 1]!;
    }
    byCount += walked;
  }
  console.log(
    `pruned by count (keep 500 per schedule; ${COUNT_WALK.schedules} schedules, ${COUNT_WALK.perSchedule} rows each a batch): ${byCount.toLocaleString("en")} rows in ${seconds(t)} s over ${walks} walks, slowest batch ${slowest.toFixed(0)} ms`,
  );
  await sql`VACUUM scheduler_fire_history`;
  console.log(`size after pruning and VACUUM: ${await size()} (freed space is reused by new rows, not returned)`);
} finally {
  await sql.end({ timeout: 1 });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
