/**
 * Cost per fire: `rows` schedules due at one slot a few seconds ahead, one compiled scheduler
 * already running and idle when the slot comes (start-up is not counted), optionally a worker
 * draining the queue (worker.ts). From just before the slot until every message is in the queue
 * (or with the worker) and every row advanced, it counts the CPU of the scheduler, of PostgreSQL
 * (the scheduler's own backends and the server's background processes, such as the WAL writer,
 * but not other clients' backends: the machine is shared) and of RabbitMQ (beam.smp: the whole
 * node, so other clients of a shared broker are counted too), and the scheduler's JavaScript heap
 * allocation, from JavaScriptCore's own GC log (BUN_JSC_logGC=1: each collection states the bytes
 * allocated since the one before). Each is divided by `rows`.
 */

import { resolve } from "node:path";
import { anyDue, dbNowMs, insertSchedulesAt, insertWorkflows } from "./data.ts";
import { createDatabase, createQueue, nowMs, type Sql, waitUntil } from "./env.ts";
import { cpuBetween, cpuByPid, processSample, type Scheduler, startScheduler } from "./process.ts";
import { startWorker, type Worker } from "./worker.ts";

export interface CostResult {
  readonly rows: number;
  readonly worker: boolean;
  /** The fire history table was there (written in every claim transaction). */
  readonly history: boolean;
  readonly seconds: number;
  readonly firesPerSecond: number;
  /** CPU per fire, µs. */
  readonly schedulerUs: number;
  /** Of `schedulerUs`, the time in the kernel. */
  readonly schedulerSystemUs: number;
  readonly postgresUs: number;
  readonly brokerUs: number;
  /**
   * JavaScript heap bytes allocated per fire: the collections that ran in the window. A
   * collection cycle is several MB, so at 10,000 rows this is ± one cycle / rows.
   */
  readonly allocatedBytes: number;
  /** Collections in the window, and the longest pause among them. */
  readonly collections: number;
  readonly maxPauseMs: number;
}

export interface CostOptions {
  readonly binary: string;
  readonly rows: number;
  readonly worker: boolean;
  readonly payloadBytes: number;
  /** With the fire history table (docs/contract.md §10), so every fire writes its history row. */
  readonly history: boolean;
}

const HISTORY_MIGRATION = resolve(import.meta.dir, "../migrations/004_history_tables.sql");

/** The PostgreSQL processes working for the scheduler: its backends and the server's own. */
async function schedulerBackends(sql: Sql): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
     WHERE (datname = current_database() AND application_name = 'rune-scheduler')
        OR backend_type <> 'client backend'`;
  return rows.map((r) => r.pid);
}

/** A running account of JavaScriptCore's GC log lines in a scheduler's output. */
export function gcLog() {
  let partial = "";
  let allocated = 0;
  const pauses: number[] = [];
  return {
    feed(chunk: string) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        const bytes = /bytes allocated this cycle: (\d+)/.exec(line);
        if (bytes) allocated += Number(bytes[1]);
        const pause = /=> \d+kb, p=([\d.]+)ms/.exec(line);
        if (pause) pauses.push(Number(pause[1]));
      }
    },
    snapshot: () => ({ allocated, collections: pauses.length, pauses: [...pauses] }),
  };
}

export async function runCost(options: CostOptions): Promise<CostResult> {
  const { rows } = options;
  const db = await createDatabase("rune_bench_cost");
  const queue = await createQueue("rune_bench_cost");
  let scheduler: Scheduler | null = null;
  let worker: Worker | null = null;
  const gc = gcLog();
  try {
    const { sql } = db;
    if (options.history) await sql.unsafe(await Bun.file(HISTORY_MIGRATION).text());
    await insertWorkflows(sql, rows, options.payloadBytes);
    // Far enough ahead for the insert, the ANALYZE and the scheduler's start.
    const slotMs = Math.ceil((await dbNowMs(sql)) + 3_000 + rows * 0.03);
    await insertSchedulesAt(sql, rows, slotMs);
    await sql`ANALYZE`;
    if (options.worker) worker = await startWorker(queue.name);
    scheduler = await startScheduler(options.binary, db.name, queue.name, { BUN_JSC_logGC: "1" }, gc.feed);
    await scheduler.ready();
    const offset = (await dbNowMs(sql)) - nowMs();
    const untilSlot = slotMs - offset - nowMs() - 250;
    if (untilSlot < 0) throw new Error(`the scheduler was ready only ${-untilSlot} ms before the slot`);
    await Bun.sleep(untilSlot);
    const pid = scheduler.pid;
    const backendsBefore = await schedulerBackends(sql);
    const before = {
      broker: cpuByPid("beam.smp"),
      postgres: cpuByPid("postgres"),
      own: processSample(pid),
      gc: gc.snapshot(),
    };
    const startedAt = nowMs();
    const alive = () => {
      if (!scheduler!.running()) throw new Error(`scheduler ${pid} exited during the measurement`);
    };
    const timeoutMs = 60_000 + rows;
    // Watched cheaply, so the watching costs the broker and the database next to nothing.
    await waitUntil(
      `${rows} messages`,
      async () => (alive(), (worker ? worker.received() : await queue.depth()) >= rows),
      timeoutMs,
      worker ? 5 : 25,
    );
    const doneAt = await waitUntil(`${rows} rows to advance`, async () => !(await anyDue(sql, slotMs)), timeoutMs, 5);
    const after = {
      broker: cpuByPid("beam.smp"),
      postgres: cpuByPid("postgres"),
      own: processSample(pid),
      gc: gc.snapshot(),
    };
    // A backend that opened during the burst started from nothing; one that ended took its time with it.
    const backends = new Set([...backendsBefore, ...(await schedulerBackends(sql))]);
    let postgresSeconds = 0;
    for (const backend of backends)
      postgresSeconds += (after.postgres.get(backend) ?? 0) - (before.postgres.get(backend) ?? 0);
    await scheduler.stop();
    const [check] = await sql<{ bad: number }[]>`
      SELECT count(*)::int AS bad FROM scheduled_workflows WHERE run_count <> 1 OR failure_count <> 0`;
    if (check!.bad !== 0) throw new Error(`${check!.bad} rows did not fire exactly once successfully`);
    if (options.history) {
      const [recorded] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM scheduler_fire_history`;
      if (recorded!.n !== rows) throw new Error(`${recorded!.n} history rows for ${rows} fires`);
    }
    const seconds = (doneAt - startedAt - 250) / 1000;
    const perFire = (cpuSeconds: number) => (cpuSeconds * 1e6) / rows;
    const pauses = after.gc.pauses.slice(before.gc.collections);
    return {
      rows,
      worker: options.worker,
      history: options.history,
      seconds,
      firesPerSecond: rows / seconds,
      schedulerUs: perFire(after.own.cpuSeconds - before.own.cpuSeconds),
      schedulerSystemUs: perFire(after.own.systemSeconds - before.own.systemSeconds),
      postgresUs: perFire(postgresSeconds),
      brokerUs: perFire(cpuBetween(before.broker, after.broker)),
      allocatedBytes: (after.gc.allocated - before.gc.allocated) / rows,
      collections: pauses.length,
      maxPauseMs: pauses.length === 0 ? 0 : Math.max(...pauses),
    };
  } catch (error) {
    if (scheduler) process.stderr.write(`--- scheduler output (tail) ---\n${scheduler.output().slice(-2_000)}\n`);
    throw error;
  } finally {
    await scheduler?.stop();
    await worker?.stop();
    await queue.drop();
    await db.drop();
  }
}
