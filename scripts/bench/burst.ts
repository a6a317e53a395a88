/**
 * Burst: `rows` schedules all due at one slot, fired by `replicas` compiled schedulers that were
 * started (and had armed their timers) before the slot. Measured from the slot to the moment
 * every row has been advanced and the queue holds a message for each (the scheduler commits a
 * row only after the broker confirmed its message, so "advanced" implies "confirmed").
 *
 * Duplicates: every row must end with run_count = 1 and failure_count = 0, so each slot was
 * confirmed at least once; the queue depth beyond `rows` is then exactly the duplicate count.
 */
import { createDatabase, createQueue, dbClockOffsetMs, nowMs, waitUntil } from "./env.ts";
import { machineSample, processSample, startScheduler, type Scheduler } from "./process.ts";
import { anyDue, dbNowMs, insertSchedulesAt, insertWorkflows } from "./data.ts";

export interface BurstResult {
  readonly rows: number;
  readonly replicas: number;
  /** Slot → last row advanced and last message in the queue. */
  readonly seconds: number;
  readonly firesPerSecond: number;
  readonly duplicates: number;
  /** Fires per replica, from each scheduler's /stats. */
  readonly perReplica: number[];
  /** How long before the slot the last scheduler was ready (must be > 0). */
  readonly readyBeforeSlotMs: number;
  /** CPU of the schedulers during the burst, summed, in % of one core. */
  readonly schedulerCpuPercent: number;
  /** The whole machine during the burst (scheduler, PostgreSQL, RabbitMQ, everyone else), % of all cores. */
  readonly machineBusyPercent: number;
}

export interface BurstOptions {
  readonly binary: string;
  readonly rows: number;
  readonly replicas: number;
  readonly payloadBytes: number;
  /** Time from the insert to the slot: covers starting the schedulers and their first poll. */
  readonly leadMs: number;
}

export async function runBurst(options: BurstOptions): Promise<BurstResult> {
  const { rows, replicas } = options;
  const db = await createDatabase("rune_bench_burst");
  const queue = await createQueue("rune_bench_burst");
  const schedulers: Scheduler[] = [];
  try {
    const { sql } = db;
    await insertWorkflows(sql, rows, options.payloadBytes);
    const slotMs = Math.ceil((await dbNowMs(sql)) + options.leadMs);
    await insertSchedulesAt(sql, rows, slotMs);
    await sql`ANALYZE`;
    const offsetMs = await dbClockOffsetMs(sql);
    for (let i = 0; i < replicas; i++) schedulers.push(await startScheduler(options.binary, db.name, queue.name));
    const readyAt = Math.max(...(await Promise.all(schedulers.map((s) => s.ready()))));
    const readyBeforeSlotMs = slotMs - (readyAt + offsetMs);
    if (readyBeforeSlotMs < 200) {
      throw new Error(`the schedulers were ready only ${Math.round(readyBeforeSlotMs)} ms before the slot; raise --lead`);
    }
    // Sleep through the quiet part, then watch closely.
    await Bun.sleep(Math.max(0, slotMs - offsetMs - nowMs() - 50));
    const cpuBefore = schedulers.map((s) => processSample(s.pid).cpuSeconds);
    const machineBefore = machineSample();
    // Watch cheaply, so the watching does not slow the burst: first the queue depth (a message is
    // confirmed before its row commits), then whether any row at the slot is still unadvanced.
    const timeoutMs = 60_000 + rows;
    await waitUntil(`${rows} messages in the queue`, async () => (await queue.depth()) >= rows, timeoutMs, 20);
    const doneAt = await waitUntil(`${rows} rows to advance`, async () => !(await anyDue(sql, slotMs)), timeoutMs, 5);
    const seconds = (doneAt + offsetMs - slotMs) / 1000;
    const cpuSeconds = schedulers.reduce((sum, s, i) => sum + processSample(s.pid).cpuSeconds - cpuBefore[i]!, 0);
    const machineAfter = machineSample();
    const machineBusyPercent =
      (100 * (machineAfter.busySeconds - machineBefore.busySeconds)) / (machineAfter.totalSeconds - machineBefore.totalSeconds);
    const perReplica = await Promise.all(schedulers.map((s) => executions(s.port)));
    for (const scheduler of schedulers) await scheduler.stop();
    const [check] = await sql<{ bad: number }[]>`
      SELECT count(*)::int AS bad FROM scheduled_workflows WHERE run_count <> 1 OR failure_count <> 0`;
    if (check!.bad !== 0) throw new Error(`${check!.bad} rows did not fire exactly once successfully`);
    const duplicates = (await queue.depth()) - rows;
    return {
      rows,
      replicas,
      seconds,
      firesPerSecond: rows / seconds,
      duplicates,
      perReplica,
      readyBeforeSlotMs,
      schedulerCpuPercent: (100 * cpuSeconds) / seconds,
      machineBusyPercent,
    };
  } catch (error) {
    for (const scheduler of schedulers) process.stderr.write(`--- scheduler ${scheduler.pid} output (tail) ---\n${scheduler.output().slice(-2_000)}\n`);
    throw error;
  } finally {
    for (const scheduler of schedulers) await scheduler.stop();
    await queue.drop();
    await db.drop();
  }
}

async function executions(port: number): Promise<number> {
  const stats = (await fetch(`http://127.0.0.1:${port}/stats`).then((r) => r.json())) as { executions?: number };
  return stats.executions ?? 0;
}
