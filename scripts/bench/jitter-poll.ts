/**
 * What the jitter column costs the poll and the claim (docs/performance.md, "Jitter and the
 * poll"): the engine's own `poll` and `claimDue` (LIMIT 1 and one full batch, rolled back) from
 * src/postgres/store.ts on 100,000 schedules after scripts/migrations/003 has added the policy
 * columns, once with every `jitter_seconds` NULL and once with 1 % of the rows jittered.
 *
 * Data as scripts/bench/pollcost.ts lays it out: every 20th schedule inactive, the first `due`
 * ids due in the last second, the rest spread over the next day; interval 1 h, jitter 30 s.
 *
 * Prints one JSON line of medians (ms, client round trip) per scenario. Compare two commits by
 * running this file from each in turn (A B A B …) and taking the ratios pair by pair.
 *   bun scripts/bench/jitter-poll.ts [--rows N] [--due N] [--samples N] [--explain]
 */

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { claimDue, poll, scheduleColumns } from "../../src/postgres/store.ts";
import { insertWorkflows } from "./data.ts";
import { cleanupAll, createDatabase, nowMs, type Sql } from "./env.ts";
import { summarize } from "./stats.ts";

const MIGRATION = readFileSync(new URL("../migrations/003_schedule_policy_columns.sql", import.meta.url), "utf8");
const LOOK_AHEAD_MS = 60_000;
const BATCH = 1000;
const ROLLBACK = Symbol("rollback");

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "100000" },
    due: { type: "string", default: "10" },
    samples: { type: "string", default: "200" },
    explain: { type: "boolean", default: false },
  },
});
const rows = Number(values.rows);
const due = Number(values.due);
const samples = Number(values.samples);

/** `jitteredEvery`: undefined = the migration not applied (the reference), null = no row jittered. */
async function scenario(
  name: string,
  jitteredEvery: number | null | undefined,
): Promise<Record<string, number | string>> {
  const db = await createDatabase("rune_bench_jitterpoll");
  try {
    const { sql } = db;
    await sql.unsafe(MIGRATION);
    const jitter = jitteredEvery === undefined ? sql`` : sql`, jitter_seconds`;
    const jitterValue =
      jitteredEvery === undefined
        ? sql``
        : sql`, CASE WHEN ${jitteredEvery}::int IS NOT NULL AND g % ${jitteredEvery ?? 1}::int = 7 THEN 30 END`;
    await insertWorkflows(sql, rows, 200);
    await sql`
      INSERT INTO scheduled_workflows (id, workflow_id, is_active, next_run_at, interval_seconds${jitter})
      SELECT g, g, g % 20 <> 0,
             CASE WHEN g <= ${due}::int THEN (now() AT TIME ZONE 'UTC') - g * interval '1 ms'
                  ELSE (now() AT TIME ZONE 'UTC') + random() * interval '1 day' END,
             3600${jitterValue}
        FROM generate_series(1, ${rows}::int) g`;
    // The reference: the same table before the migration (its columns dropped again).
    if (jitteredEvery === undefined)
      for (const column of ["misfire_policy", "misfire_grace_seconds", "ends_at", "max_runs", "jitter_seconds"])
        await sql.unsafe(`ALTER TABLE scheduled_workflows DROP COLUMN ${column}`);
    await sql`VACUUM ANALYZE`;
    const columns = await scheduleColumns(sql);
    const claim = (limit: number) => async (tx: Sql) => {
      await claimDue(tx, { limit, columns });
    };
    const statements = {
      poll: (s: Sql) => poll(s, LOOK_AHEAD_MS, [], columns),
      claimOne: (s: Sql) => inRollback(s, claim(1)),
      claim: (s: Sql) => inRollback(s, claim(BATCH)),
    };
    if (values.explain) for (const [label, run] of Object.entries(statements)) await explain(sql, name, label, run);
    const times: Record<string, number[]> = { poll: [], claimOne: [], claim: [] };
    for (const run of Object.values(statements)) await run(sql); // warm-up
    // Interleaved so that a drift of the shared machine touches every statement alike.
    for (let i = 0; i < samples; i++)
      for (const [label, run] of Object.entries(statements)) {
        const started = nowMs();
        await run(sql);
        times[label]!.push(nowMs() - started);
      }
    const medians = Object.fromEntries(
      Object.entries(times).map(([label, list]) => [label, Number(summarize(list).median.toFixed(4))]),
    );
    return { scenario: name, ...medians };
  } finally {
    await db.drop();
  }
}

async function inRollback(sql: Sql, body: (tx: Sql) => Promise<void>): Promise<void> {
  await sql
    .begin(async (tx) => {
      await body(tx as unknown as Sql);
      throw ROLLBACK;
    })
    .catch((error) => {
      if (error !== ROLLBACK) throw error;
    });
}

/** Prints the EXPLAIN ANALYZE text of each whole statement `run` sends (not its fragments). */
async function explain(sql: Sql, name: string, label: string, run: (s: Sql) => Promise<unknown>): Promise<void> {
  const explaining = (target: Sql): Sql =>
    new Proxy(target, {
      get(object, key, receiver) {
        // A transaction's `sql` must explain too.
        if (key === "begin")
          return (body: (tx: Sql) => Promise<unknown>) => object.begin((tx) => body(explaining(tx as unknown as Sql)));
        return Reflect.get(object, key, receiver);
      },
      apply(fn, self, args: unknown[]) {
        const strings = args[0] as TemplateStringsArray | undefined;
        const statement =
          Array.isArray(strings) && "raw" in strings && /^\s*(SELECT|UPDATE|WITH)\b/i.test(strings[0] ?? "");
        if (!statement) return Reflect.apply(fn, self, args);
        const prefixed = Object.assign([...strings!], { raw: [...strings!.raw] });
        prefixed[0] = `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${prefixed[0]}`;
        prefixed.raw[0] = prefixed[0]!;
        return (Reflect.apply(fn, self, [prefixed, ...args.slice(1)]) as Promise<{ "QUERY PLAN": string }[]>).then(
          (lines) => {
            process.stdout.write(`--- ${name} ${label}\n${lines.map((line) => line["QUERY PLAN"]).join("\n")}\n`);
            return [];
          },
        );
      },
    }) as Sql;
  await run(explaining(sql)).catch(() => {});
}

try {
  for (const [name, every] of [
    ["no-columns", undefined],
    ["all-null", null],
    ["1pct-jitter", 100],
  ] as const)
    process.stdout.write(`${JSON.stringify({ rows, due, samples, ...(await scenario(name, every)) })}\n`);
} finally {
  await cleanupAll();
}
