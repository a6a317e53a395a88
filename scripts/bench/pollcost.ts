/**
 * Poll cost: EXPLAIN ANALYZE of the engine's own poll, claim and record statements (taken from
 * src/postgres/store.ts by running its functions against an `sql` that prefixes every query with
 * EXPLAIN, so the text and parameters can never drift from the code) on `rows` schedules,
 * without and with the recommended index. Also the plain client round trip of each statement.
 *
 * Data: one workflow per schedule; every 20th schedule inactive; the first `due` ids due in the
 * last second (by default one full claim); the rest spread uniformly over the next day.
 */

import { recordOutcomes } from "../../src/postgres/record.ts";
import { claimDue, poll } from "../../src/postgres/store.ts";
import type { RowUpdate } from "../../src/schedule/plan.ts";
import { insertWorkflows } from "./data.ts";
import { createDatabase, nowMs, type Sql } from "./env.ts";
import { summarize } from "./stats.ts";

export interface QueryCost {
  /** Median EXPLAIN ANALYZE execution time. */
  readonly executionMs: number;
  readonly planningMs: number;
  /** Median round trip of the statement itself, as the engine sends it. */
  readonly roundTripMs: number;
  readonly plan: string;
}

/** `claimOne` is the claim with LIMIT 1: what a claim costs when one row is due (a timer fire). */
export type Statement = "poll" | "claim" | "claimOne" | "record";
export type PollCostResult = { readonly rows: number; readonly due: number } & Record<
  "withIndex" | "withoutIndex",
  Record<Statement, QueryCost>
>;

export interface PollCostOptions {
  readonly rows: number;
  readonly due: number;
  readonly batch: number;
  readonly lookAheadMs: number;
  readonly samples: number;
  readonly payloadBytes: number;
}

const INDEX_DDL = "CREATE INDEX scheduled_workflows_due_idx ON scheduled_workflows (next_run_at) WHERE is_active";
const ROLLBACK = Symbol("rollback");

export async function runPollCost(options: PollCostOptions): Promise<PollCostResult> {
  const db = await createDatabase("rune_bench_pollcost");
  try {
    const { sql } = db;
    await sql`DROP INDEX scheduled_workflows_due_idx`;
    await insertWorkflows(sql, options.rows, options.payloadBytes);
    await sql`
      INSERT INTO scheduled_workflows (id, workflow_id, is_active, next_run_at, interval_seconds)
      SELECT g, g, g % 20 <> 0,
             CASE WHEN g <= ${options.due}::int THEN (now() AT TIME ZONE 'UTC') - g * interval '1 ms'
                  ELSE (now() AT TIME ZONE 'UTC') + random() * interval '1 day' END,
             3600
        FROM generate_series(1, ${options.rows}::int) g`;
    await sql`VACUUM ANALYZE`;
    const withoutIndex = await measureAll(sql, options);
    await sql.unsafe(INDEX_DDL);
    await sql`VACUUM ANALYZE`;
    const withIndex = await measureAll(sql, options);
    return { rows: options.rows, due: options.due, withIndex, withoutIndex };
  } finally {
    await db.drop();
  }
}

async function measureAll(sql: Sql, options: PollCostOptions): Promise<Record<Statement, QueryCost>> {
  const updatesFor = async (tx: Sql): Promise<RowUpdate[]> => {
    const { rows } = await claimDue(tx, { limit: options.batch });
    return rows.map((r) => ({
      id: r.id,
      nextMs: r.slotMs + (r.intervalSeconds ?? 0) * 1000,
      outcome: "ok",
      error: null,
      pause: false,
    }));
  };
  /** Runs `body` in a transaction that is rolled back; returns the body's result. */
  const inRollback = async <T>(body: (tx: Sql) => Promise<T>): Promise<T> => {
    let result!: T;
    await sql
      .begin(async (tx) => {
        result = await body(tx as unknown as Sql);
        throw ROLLBACK;
      })
      .catch((error) => {
        if (error !== ROLLBACK) throw error;
      });
    return result;
  };
  const timed = async (action: () => Promise<unknown>) => {
    const started = nowMs();
    await action();
    return nowMs() - started;
  };
  return {
    poll: await measure(options.samples, (explain) =>
      poll(explain ? explaining(sql, explain) : sql, options.lookAheadMs),
    ),
    claim: await measure(options.samples, (explain) =>
      inRollback((tx) => timed(() => claimDue(explain ? explaining(tx, explain) : tx, { limit: options.batch }))),
    ),
    claimOne: await measure(options.samples, (explain) =>
      inRollback((tx) => timed(() => claimDue(explain ? explaining(tx, explain) : tx, { limit: 1 }))),
    ),
    record: await measure(options.samples, (explain) =>
      inRollback(async (tx) => {
        const updates = await updatesFor(tx);
        return timed(() => recordOutcomes(explain ? explaining(tx, explain) : tx, updates));
      }),
    ),
  };
}

type Explained = { Plan: PlanNode; "Planning Time": number; "Execution Time": number };
type PlanNode = { "Node Type": string; "Index Name"?: string; "Relation Name"?: string; Plans?: PlanNode[] };

/**
 * Runs `run` once to warm up, then `samples` times with EXPLAIN and `samples` times plain.
 * For the plain timing, `run` may return its own duration (to leave out set-up in the same transaction).
 */
async function measure(
  samples: number,
  run: (explain: ((plan: Explained) => void) | null) => Promise<unknown>,
): Promise<QueryCost> {
  const plans: Explained[] = [];
  await run(null);
  for (let i = 0; i < samples; i++) await run((plan) => plans.push(plan));
  const trips: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = nowMs();
    const own = await run(null);
    trips.push(typeof own === "number" ? own : nowMs() - started);
  }
  return {
    executionMs: summarize(plans.map((p) => p["Execution Time"])).median,
    planningMs: summarize(plans.map((p) => p["Planning Time"])).median,
    roundTripMs: summarize(trips).median,
    plan: describePlan(plans[plans.length - 1]!.Plan),
  };
}

/** An `sql` whose tagged queries run as EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON); plans go to `sink`. */
function explaining(sql: Sql, sink: (plan: Explained) => void): Sql {
  return new Proxy(sql, {
    apply(target, self, args: unknown[]) {
      const strings = args[0] as TemplateStringsArray | undefined;
      // Only whole statements are explained, not the fragments (store.claimable) built inside them.
      const statement =
        Array.isArray(strings) && "raw" in strings && /^\s*(SELECT|UPDATE|WITH)\b/i.test(strings[0] ?? "");
      if (!statement) return Reflect.apply(target, self, args);
      const prefixed = Object.assign([...strings!], { raw: [...strings!.raw] });
      prefixed[0] = `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${prefixed[0]}`;
      prefixed.raw[0] = prefixed[0]!;
      const query = Reflect.apply(target, self, [prefixed, ...args.slice(1)]) as Promise<
        { "QUERY PLAN": Explained[] }[]
      >;
      return query.then((rows) => {
        sink(rows[0]!["QUERY PLAN"][0]!);
        return rows;
      });
    },
  }) as Sql;
}

function describePlan(node: PlanNode): string {
  const name =
    node["Node Type"] +
    (node["Index Name"] ? ` (${node["Index Name"]})` : node["Relation Name"] ? ` (${node["Relation Name"]})` : "");
  const children = (node.Plans ?? []).map(describePlan);
  return children.length === 0 ? name : `${name} › ${children.length === 1 ? children[0] : `[${children.join(", ")}]`}`;
}
