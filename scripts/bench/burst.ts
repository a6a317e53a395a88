/**
 * Burst: `rows` schedules already due at one slot when `replicas` compiled schedulers are
 * spawned (one after another, a few ms apart). Two figures, both ending when the queue holds a
 * message for every row and every row has been advanced (the scheduler commits a row only after
 * the broker confirmed its message, so "advanced" implies "confirmed"):
 * - from process start: the first spawn → that end (start-up, connections, first claim included);
 * - from the first message: the first message's arrival in the queue → that end.
 *
 * Duplicates: every row must end with run_count = 1 and failure_count = 0, so each slot was
 * confirmed at least once; the queue depth beyond `rows` is then exactly the duplicate count.
 */

import { anyDue, dbNowMs, insertSchedulesAt, insertWorkflows } from "./data.ts";
import { createDatabase, createQueue, waitUntil } from "./env.ts";
import { cpuByCommand, machineSample, processSample, type Scheduler, startScheduler } from "./process.ts";

export interface BurstResult {
  readonly rows: number;
  readonly replicas: number;
  /** First spawn → first message in the queue. */
  readonly firstMessageMs: number;
  /** First spawn → last message in the queue and every row advanced. */
  readonly fromStartSeconds: number;
  readonly fromStartFiresPerSecond: number;
  /** First message → the same end. */
  readonly fromFirstSeconds: number;
  readonly fromFirstFiresPerSecond: number;
  readonly duplicates: number;
  /** Fires per replica, from each scheduler's /stats. */
  readonly perReplica: number[];
  /** CPU over the from-start window, in % of one core: the schedulers (summed), RabbitMQ, PostgreSQL (all its processes). */
  readonly schedulerCpuPercent: number;
  readonly brokerCpuPercent: number;
  readonly postgresCpuPercent: number;
  /** The whole machine over the same window (scheduler, PostgreSQL, RabbitMQ, everyone else), % of all cores. */
  readonly machineBusyPercent: number;
}

export interface BurstOptions {
  readonly binary: string;
  readonly rows: number;
  readonly replicas: number;
  readonly payloadBytes: number;
}

const SERVICES = ["beam.smp", "postgres"] as const;

export async function runBurst(options: BurstOptions): Promise<BurstResult> {
  const { rows, replicas } = options;
  const db = await createDatabase("rune_bench_burst");
  const queue = await createQueue("rune_bench_burst");
  const schedulers: Scheduler[] = [];
  try {
    const { sql } = db;
    await insertWorkflows(sql, rows, options.payloadBytes);
    const slotMs = Math.floor((await dbNowMs(sql)) - 1_000);
    await insertSchedulesAt(sql, rows, slotMs);
    await sql`ANALYZE`;
    const first = await queue.watchFirst();
    const servicesBefore = cpuByCommand(SERVICES);
    const machineBefore = machineSample();
    for (let i = 0; i < replicas; i++) schedulers.push(await startScheduler(options.binary, db.name, queue.name));
    const startedAt = schedulers[0]!.spawnedAt;
    // Watch cheaply, so the watching does not slow the burst: first the queue depth (a message is
    // confirmed before its row commits), then whether any row at the slot is still unadvanced.
    const alive = () => {
      const dead = schedulers.find((s) => !s.running());
      if (dead) throw new Error(`scheduler ${dead.pid} exited during the burst`);
    };
    const timeoutMs = 60_000 + rows;
    await waitUntil(
      `${rows} messages in the queue`,
      async () => (alive(), (await queue.depth()) >= rows),
      timeoutMs,
      10,
    );
    const doneAt = await waitUntil(
      `${rows} rows to advance`,
      async () => (alive(), !(await anyDue(sql, slotMs))),
      timeoutMs,
      5,
    );
    const firstAt = await first.arrived;
    await first.stop();
    const servicesAfter = cpuByCommand(SERVICES);
    const machineAfter = machineSample();
    const schedulerCpu = schedulers.reduce((sum, s) => sum + processSample(s.pid).cpuSeconds, 0);
    const perReplica = await Promise.all(schedulers.map((s) => executions(s.port)));
    for (const scheduler of schedulers) await scheduler.stop();
    const [check] = await sql<{ bad: number }[]>`
      SELECT count(*)::int AS bad FROM scheduled_workflows WHERE run_count <> 1 OR failure_count <> 0`;
    if (check!.bad !== 0) throw new Error(`${check!.bad} rows did not fire exactly once successfully`);
    const duplicates = (await queue.depth()) - rows;
    const fromStartSeconds = (doneAt - startedAt) / 1000;
    const fromFirstSeconds = (doneAt - firstAt) / 1000;
    const percentOfCore = (cpuSeconds: number) => (100 * cpuSeconds) / fromStartSeconds;
    return {
      rows,
      replicas,
      firstMessageMs: firstAt - startedAt,
      fromStartSeconds,
      fromStartFiresPerSecond: rows / fromStartSeconds,
      fromFirstSeconds,
      fromFirstFiresPerSecond: rows / fromFirstSeconds,
      duplicates,
      perReplica,
      schedulerCpuPercent: percentOfCore(schedulerCpu),
      brokerCpuPercent: percentOfCore(servicesAfter["beam.smp"]! - servicesBefore["beam.smp"]!),
      postgresCpuPercent: percentOfCore(servicesAfter.postgres! - servicesBefore.postgres!),
      machineBusyPercent:
        (100 * (machineAfter.busySeconds - machineBefore.busySeconds)) /
        (machineAfter.totalSeconds - machineBefore.totalSeconds),
    };
  } catch (error) {
    for (const scheduler of schedulers)
      process.stderr.write(`--- scheduler ${scheduler.pid} output (tail) ---\n${scheduler.output().slice(-2_000)}\n`);
    throw error;
  } finally {
    for (const scheduler of schedulers) await scheduler.stop();
    await queue.drop();
    await db.drop();
  }
}

/**
 * A replica's fire count from its /stats. A small burst can be over before a later replica has
 * even opened its HTTP port (a loaded machine), so a refused connection is retried for a while.
 */
async function executions(port: number): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const stats = (await fetch(`http://127.0.0.1:${port}/stats`).then((r) => r.json())) as { executions?: number };
      return stats.executions ?? 0;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(50);
    }
  }
}
