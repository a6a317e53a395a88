/**
 * Start-up to the first message: `rows` schedules already due when the compiled scheduler is
 * spawned; the time from the spawn to the first message's arrival in the queue. Each sample
 * makes the same rows due again and empties the queue, then starts a new process.
 * (Spawn → /readyz is measured by idle.ts, against nothing due.)
 */

import { dbNowMs, insertSchedulesAt, insertWorkflows } from "./data.ts";
import { createDatabase, createQueue, waitUntil } from "./env.ts";
import { type Scheduler, startScheduler } from "./process.ts";

export interface StartupResult {
  readonly rows: number;
  /** One per start: spawn → first message in the queue. */
  readonly firstMessageMs: number[];
}

export interface StartupOptions {
  readonly binary: string;
  readonly rows: number;
  readonly samples: number;
  readonly payloadBytes: number;
}

export async function runStartup(options: StartupOptions): Promise<StartupResult> {
  const db = await createDatabase("rune_bench_startup");
  const queue = await createQueue("rune_bench_startup");
  let scheduler: Scheduler | null = null;
  try {
    const { sql } = db;
    await insertWorkflows(sql, options.rows, options.payloadBytes);
    const slotMs = Math.floor((await dbNowMs(sql)) - 1_000);
    await insertSchedulesAt(sql, options.rows, slotMs);
    await sql`ANALYZE`;
    const firstMessageMs: number[] = [];
    for (let i = 0; i < options.samples; i++) {
      if (i > 0) {
        await sql`
          UPDATE scheduled_workflows
             SET next_run_at = to_timestamp(${slotMs}::float8 / 1000) AT TIME ZONE 'UTC', run_count = 0, last_run_at = NULL`;
        await queue.channel.purgeQueue(queue.name);
      }
      const first = await queue.watchFirst();
      scheduler = await startScheduler(options.binary, db.name, queue.name);
      const current = scheduler;
      let arrivedAt: number | null = null;
      void first.arrived.then((at) => (arrivedAt = at));
      await waitUntil(
        "the first message",
        () => {
          if (!current.running())
            throw new Error(`scheduler exited before its first message; output:\n${current.output().slice(-2_000)}`);
          return arrivedAt !== null;
        },
        15_000,
        5,
      );
      firstMessageMs.push(arrivedAt! - current.spawnedAt);
      await first.stop();
      await current.stop();
      scheduler = null;
    }
    return { rows: options.rows, firstMessageMs };
  } finally {
    await scheduler?.stop();
    await queue.drop();
    await db.drop();
  }
}
