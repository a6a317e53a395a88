/**
 * Idle: `rows` schedules a day ahead (nothing within the look-ahead), one compiled scheduler with
 * default settings; resident memory and CPU time read from /proc once a second over the window,
 * which starts `settleMs` after /readyz first answered 200.
 *
 * Startup: process spawn → first 200 from /readyz, against the same database (the scheduler
 * connects to both services and runs its first poll before it is ready).
 */

import { dbNowMs, insertWorkflows } from "./data.ts";
import { createDatabase, createQueue, nowMs } from "./env.ts";
import { processSample, type Scheduler, startScheduler } from "./process.ts";
import { summarize } from "./stats.ts";

export interface IdleResult {
  readonly rows: number;
  readonly windowSeconds: number;
  /** Median of the once-a-second samples. */
  readonly rssMedianMB: number;
  readonly rssMaxMB: number;
  /** The anonymous part of the resident memory (heap, stacks); the rest is file pages of the executable. */
  readonly anonMedianMB: number;
  /** CPU time over the window / window, in % of one core. */
  readonly cpuPercent: number;
  readonly startupMs: number[];
}

export interface IdleOptions {
  readonly binary: string;
  readonly rows: number;
  readonly windowMs: number;
  readonly settleMs: number;
  readonly startupSamples: number;
  readonly payloadBytes: number;
}

const MB = 1024 * 1024;

export async function runIdle(options: IdleOptions): Promise<IdleResult> {
  const db = await createDatabase("rune_bench_idle");
  const queue = await createQueue("rune_bench_idle");
  let scheduler: Scheduler | null = null;
  try {
    const { sql } = db;
    await insertWorkflows(sql, options.rows, options.payloadBytes);
    // A day ahead, spread over the following hour.
    const dayAheadMs = (await dbNowMs(sql)) + 86_400_000;
    await sql`
      INSERT INTO scheduled_workflows (id, workflow_id, next_run_at, interval_seconds)
      SELECT g, g, to_timestamp((${dayAheadMs}::float8 + g * 3600000.0 / ${options.rows}::int) / 1000) AT TIME ZONE 'UTC', 86400
        FROM generate_series(1, ${options.rows}::int) g`;
    await sql`ANALYZE`;

    const startupMs: number[] = [];
    for (let i = 0; i < options.startupSamples; i++) {
      const probe = await startScheduler(options.binary, db.name, queue.name);
      try {
        startupMs.push((await probe.ready()) - probe.spawnedAt);
      } finally {
        await probe.stop();
      }
    }

    scheduler = await startScheduler(options.binary, db.name, queue.name);
    await scheduler.ready();
    await Bun.sleep(options.settleMs);
    const first = processSample(scheduler.pid);
    const startedAt = nowMs();
    const rss: number[] = [first.rssBytes];
    const anon: number[] = [first.anonBytes];
    let last = first;
    while (nowMs() - startedAt < options.windowMs) {
      await Bun.sleep(Math.min(1_000, options.windowMs - (nowMs() - startedAt)));
      last = processSample(scheduler.pid);
      rss.push(last.rssBytes);
      anon.push(last.anonBytes);
    }
    const window = (nowMs() - startedAt) / 1000;
    return {
      rows: options.rows,
      windowSeconds: window,
      rssMedianMB: summarize(rss).median / MB,
      rssMaxMB: Math.max(...rss) / MB,
      anonMedianMB: summarize(anon).median / MB,
      cpuPercent: ((last.cpuSeconds - first.cpuSeconds) / window) * 100,
      startupMs,
    };
  } finally {
    await scheduler?.stop();
    await queue.drop();
    await db.drop();
  }
}
