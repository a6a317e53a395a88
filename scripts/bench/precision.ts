/**
 * Precision: `rows` schedules at seeded-random slots spread over `spreadMs`, one compiled
 * scheduler with the default poll interval and look-ahead, and a consumer in this process.
 * Lag of a message = its arrival here (on the database clock) − its `scheduled_for`.
 */
import amqp from "amqplib";
import { gcLog } from "./cost.ts";
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
  /** What the slowest 1 % (lag ≥ p99) have in common, beside the same share of all messages. */
  readonly tail: TailCauses;
}

/**
 * Candidate causes of a late message: a slot of another row less than {@link CLOSE_MS} before
 * its own (it came due while that fire's cycle ran), a garbage collection in the scheduler
 * logged between its slot and its arrival (JavaScriptCore's GC log, stamped on arrival here),
 * and a stall of the host seen by this process's own timer in the same span.
 */
export interface TailCauses {
  readonly messages: number;
  readonly afterCloseSlot: number;
  readonly duringCollection: number;
  /** During a stall of this process's own timer (the host busy elsewhere). */
  readonly hostStalled: number;
  readonly neither: number;
  /** The same shares among all messages, for comparison. */
  readonly allAfterCloseSlot: number;
  readonly allDuringCollection: number;
  readonly allHostStalled: number;
  readonly hostStalls: number;
  /** The late messages themselves: [slot − first slot of the window, lag], ms. */
  readonly worst: [number, number][];
  readonly collections: number;
  readonly maxPauseMs: number;
}

export const CLOSE_MS = 10;
const STALL_MS = 10;

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
    const arrivedAt = new Map<string, number>();
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
        else {
          arrivals.set(id, arrivedDb - Date.parse(body.scheduled_for));
          arrivedAt.set(id, arrivedDb);
        }
      },
      { noAck: true },
    );

    const gc = gcLog();
    const collectedAt: number[] = [];
    // A canary: this process's own 1 ms timer, late by more than STALL_MS, means the host did not
    // run us (another process had the CPU); a late message during such a stall was most likely held
    // up the same way, whatever the scheduler did.
    const stalls: [number, number][] = [];
    let tickAt = nowMs();
    const canary = setInterval(() => {
      const now = nowMs();
      if (now - tickAt > STALL_MS) stalls.push([tickAt + offsetMs, now + offsetMs]);
      tickAt = now;
    }, 1);
    scheduler = await startScheduler(options.binary, db.name, queue.name, { BUN_JSC_logGC: "1" }, (chunk) => {
      const before = gc.snapshot().collections;
      gc.feed(chunk);
      const arrivedDb = nowMs() + offsetMs;
      for (let i = before; i < gc.snapshot().collections; i++) collectedAt.push(arrivedDb);
    });
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
    clearInterval(canary);
    const lags = [...arrivals.values()].sort((a, b) => a - b);
    const p99 = percentile(lags, 0.99);
    const sortedSlots = [...slots].sort((a, b) => a - b);
    const causes = (id: string) => {
      const slot = Number(id.split(":")[1]);
      const at = sortedSlots.indexOf(slot);
      const close = at > 0 && slot - sortedSlots[at - 1]! < CLOSE_MS;
      const arrived = arrivedAt.get(id)!;
      // A pause's line reaches us a moment after it ends, so one just after the arrival counts.
      const collected = collectedAt.some((t) => t >= slot && t <= arrived + 5);
      const stalled = stalls.some(([from, to]) => from < arrived && to > slot);
      return { close, collected, stalled };
    };
    const all = [...arrivals.keys()].map(causes);
    const late = [...arrivals.entries()].filter(([, lag]) => lag >= p99).map(([id]) => causes(id));
    const pauses = gc.snapshot().pauses;
    const tail: TailCauses = {
      messages: late.length,
      afterCloseSlot: late.filter((c) => c.close).length,
      duringCollection: late.filter((c) => c.collected).length,
      hostStalled: late.filter((c) => c.stalled).length,
      neither: late.filter((c) => !c.close && !c.collected && !c.stalled).length,
      allHostStalled: all.filter((c) => c.stalled).length / all.length,
      hostStalls: stalls.length,
      worst: [...arrivals.entries()]
        .filter(([, lag]) => lag >= p99)
        .map(([id, lag]): [number, number] => [Number(id.split(":")[1]) - startMs, Math.round(lag * 10) / 10]),
      allAfterCloseSlot: all.filter((c) => c.close).length / all.length,
      allDuringCollection: all.filter((c) => c.collected).length / all.length,
      collections: pauses.length,
      maxPauseMs: pauses.length === 0 ? 0 : Math.max(...pauses),
    };
    return {
      tail,
      rows: options.rows,
      spreadSeconds: options.spreadMs / 1000,
      p50Ms: percentile(lags, 0.5),
      p99Ms: p99,
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
