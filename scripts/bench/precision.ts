/**
 * Precision: `rows` schedules at seeded-random slots spread over `spreadMs`, one compiled
 * scheduler with the default poll interval and look-ahead, and a consumer in this process.
 * Lag of a message = its arrival here (on the database clock) − its `scheduled_for`.
 */
import amqp from "amqplib";
import { dbNowMs, insertSchedulesList, insertWorkflows, seededRandom } from "./data.ts";
import { createDatabase, createQueue, dbClockOffsetMs, MQ_URL, nowMs, waitUntil } from "./env.ts";
import { type Scheduler, startScheduler } from "./process.ts";
import { percentile } from "./stats.ts";

export interface PrecisionResult {
  readonly rows: number;
  readonly spreadSeconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly minMs: number;
  readonly duplicates: number;
  readonly dbClockOffsetMs: number;
}

export interface PrecisionOptions {
  readonly binary: string;
  readonly rows: number;
  readonly spreadMs: number;
  readonly payloadBytes: number;
  /** From the insert to the first slot's window: covers the scheduler's start. */
  readonly leadMs: number;
}

export async function runPrecision(options: PrecisionOptions): Promise<PrecisionResult> {
  const db = await createDatabase("rune_bench_precision");
  const queue = await createQueue("rune_bench_precision");
  const connection = await amqp.connect(MQ_URL, { noDelay: true });
  connection.on("error", () => {}); // a broker restart is noticed by the measurement's guard
  let scheduler: Scheduler | null = null;
  try {
    const { sql } = db;
    const random = seededRandom(7);
    const startMs = Math.ceil((await dbNowMs(sql)) + options.leadMs);
    const slots = Array.from({ length: options.rows }, () => startMs + Math.floor(random() * options.spreadMs));
    await insertWorkflows(sql, options.rows, options.payloadBytes);
    await insertSchedulesList(sql, slots);
    await sql`ANALYZE`;
    const offsetMs = await dbClockOffsetMs(sql);

    const arrivals = new Map<string, number>();
    let duplicates = 0;
    const channel = await connection.createChannel();
    await channel.consume(
      queue.name,
      (message) => {
        if (!message) return;
        const arrivedDb = nowMs() + offsetMs;
        const body = JSON.parse(message.content.toString("utf8")) as { scheduled_for: string };
        const id = message.properties.messageId as string;
        if (arrivals.has(id)) duplicates += 1;
        else arrivals.set(id, arrivedDb - Date.parse(body.scheduled_for));
      },
      { noAck: true },
    );

    scheduler = await startScheduler(options.binary, db.name, queue.name);
    await scheduler.ready();
    const lastSlot = Math.max(...slots);
    await waitUntil(
      `${options.rows} messages`,
      () => arrivals.size >= options.rows,
      lastSlot - offsetMs - nowMs() + 20_000,
      50,
    );
    // A moment more, so a late duplicate would be counted.
    await Bun.sleep(500);
    const lags = [...arrivals.values()].sort((a, b) => a - b);
    return {
      rows: options.rows,
      spreadSeconds: options.spreadMs / 1000,
      p50Ms: percentile(lags, 0.5),
      p99Ms: percentile(lags, 0.99),
      maxMs: lags[lags.length - 1]!,
      minMs: lags[0]!,
      duplicates,
      dbClockOffsetMs: offsetMs,
    };
  } finally {
    await scheduler?.stop();
    await connection.close().catch(() => {});
    await queue.drop();
    await db.drop();
  }
}
