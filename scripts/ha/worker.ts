/**
 * A worker for the HA rig: consumes the scheduler's queue with manual acks from whichever node of
 * the cluster answers, and accounts for every slot, so a fault's cost can be read off. test/ha
 * imports {@link Ledger} and {@link consume} from here, so the rig and its tests count alike.
 *
 *   bun scripts/ha/worker.ts declare QUEUE           a quorum queue, as RABBITMQ_QUEUE_TYPE=quorum declares it
 *   bun scripts/ha/worker.ts consume QUEUE [OUT.json] until SIGINT/SIGTERM, then a summary
 *
 * The nodes come from RABBITMQ_URL (comma-separated, as scripts/ha/rig.sh env prints it).
 * While consuming it prints a line when deliveries stop for more than a second and when they
 * resume ("gap"), and a count every 10 s. The summary checks each interval schedule's slots
 * (message id `<schedule>:<slot ms>`): a slot neither delivered nor counted in the `missed_runs`
 * of the fire before it (the slots a late fire passes over) is lost; a message id seen twice is a duplicate.
 */
import { writeFileSync } from "node:fs";
import amqp, { type ChannelModel } from "amqplib";

const clockText = (ms = Date.now()) => new Date(ms).toISOString().slice(11, 23);
const portOf = (url: string) => new URL(url).port;

export function brokerUrls(text: string): string[] {
  return text.split(/\s*,\s*(?=amqps?:\/\/)/i).filter(Boolean);
}

export interface Delivery {
  readonly id: string;
  readonly scheduleId: number;
  readonly slotMs: number;
  readonly missedRuns: number;
  /** Local time it arrived, epoch ms. */
  readonly atMs: number;
}

export interface Duplicate {
  readonly id: string;
  readonly atMs: number;
  readonly times: number;
}

/** What every delivery says about the slots of interval-1-second schedules, and what is missing. */
export class Ledger {
  /** schedule → slot ms → the largest missed_runs of its copies. */
  readonly bySchedule = new Map<number, Map<number, number>>();
  readonly ids = new Map<string, number>();
  readonly duplicates: Duplicate[] = [];
  /** Arrival times, in order, for gaps and first fires. */
  readonly arrivals: { atMs: number; slotMs: number }[] = [];
  delivered = 0;
  differing = 0;

  record(d: Delivery): void {
    const times = (this.ids.get(d.id) ?? 0) + 1;
    this.ids.set(d.id, times);
    if (times > 1) this.duplicates.push({ id: d.id, atMs: d.atMs, times });
    // Copies of one slot can differ: one published on time says missed_runs 0, its re-publish after
    // an outage counts the slots skipped since. The largest is the one the row was recorded with.
    const slots = this.bySchedule.get(d.scheduleId) ?? new Map<number, number>();
    const before = slots.get(d.slotMs);
    if (before !== undefined && before !== d.missedRuns) this.differing++;
    slots.set(d.slotMs, Math.max(before ?? 0, d.missedRuns));
    this.bySchedule.set(d.scheduleId, slots);
    this.arrivals.push({ atMs: d.atMs, slotMs: d.slotMs });
    this.delivered++;
  }

  /** One AMQP delivery, as the scheduler publishes it (message id `<schedule>:<slot ms>`). */
  recordMessage(msg: amqp.ConsumeMessage, atMs = Date.now()): void {
    const id = String(msg.properties.messageId);
    const body = JSON.parse(msg.content.toString("utf8")) as { schedule_id: number; missed_runs: number };
    this.record({
      id,
      scheduleId: body.schedule_id,
      slotMs: Number(id.split(":")[1]),
      missedRuns: body.missed_runs,
      atMs,
    });
  }

  /**
   * Slots lost: between two delivered slots of a schedule, those the earlier message does not
   * count as missed (missed_runs looks forward: the slots passed over between that fire and the
   * row's next one). `firstSlotMs`, when given, is each schedule's first slot: slots before the
   * first delivered one count as lost too.
   */
  lost(firstSlotMs?: ReadonlyMap<number, number>): { lost: number; missedRuns: number; lostIds: string[] } {
    let lost = 0;
    let missed = 0;
    const lostIds: string[] = [];
    const note = (count: number, what: string) => {
      lost += count;
      if (lostIds.length < 50) lostIds.push(what);
    };
    for (const [schedule, slots] of this.bySchedule) {
      const seen = [...slots].map(([slot, missed]) => ({ slot, missed })).sort((a, b) => a.slot - b.slot);
      const first = firstSlotMs?.get(schedule);
      if (first !== undefined && seen[0]!.slot > first)
        note(Math.round((seen[0]!.slot - first) / 1000), `${schedule}:${first}..${seen[0]!.slot}`);
      for (let i = 1; i < seen.length; i++) {
        const skipped = Math.round((seen[i]!.slot - seen[i - 1]!.slot) / 1000) - 1;
        missed += seen[i - 1]!.missed;
        if (skipped > seen[i - 1]!.missed)
          note(skipped - seen[i - 1]!.missed, `${schedule}:${seen[i - 1]!.slot}..${seen[i]!.slot}`);
      }
    }
    return { lost, missedRuns: missed, lostIds };
  }

  /** The latest delivered slot of each schedule. */
  lastSlots(): Map<number, number> {
    const last = new Map<number, number>();
    for (const [schedule, slots] of this.bySchedule) last.set(schedule, Math.max(...slots.keys()));
    return last;
  }

  /** The first arrival at or after `fromMs` of a slot due at or after `fromMs`: the first fire after a moment. */
  firstFireAfter(fromMs: number): number | null {
    for (const a of this.arrivals) if (a.atMs >= fromMs && a.slotMs >= fromMs) return a.atMs;
    return null;
  }

  /** The first arrival at or after `fromMs`, of any slot. */
  firstArrivalAfter(fromMs: number): number | null {
    return this.arrivals.find((a) => a.atMs >= fromMs)?.atMs ?? null;
  }

  /** The longest time without a delivery between two moments (each end counts as a delivery). */
  longestGap(fromMs: number, toMs: number): number {
    let previous = fromMs;
    let longest = 0;
    for (const a of this.arrivals) {
      if (a.atMs < fromMs) continue;
      if (a.atMs > toMs) break;
      longest = Math.max(longest, a.atMs - previous);
      previous = a.atMs;
    }
    return Math.max(longest, toMs - previous);
  }

  summary() {
    const { lost, missedRuns, lostIds } = this.lost();
    return {
      delivered: this.delivered,
      uniqueIds: this.ids.size,
      schedules: this.bySchedule.size,
      duplicates: this.duplicates.length,
      duplicatesWithOtherMissedRuns: this.differing,
      duplicatesBySecond: Object.fromEntries(
        Array.from(
          Map.groupBy(this.duplicates, (d) => clockText(d.atMs).slice(0, 8)),
          ([at, list]) => [at, list.length],
        ),
      ),
      duplicateIds: this.duplicates.slice(0, 20).map((d) => d.id),
      missedRuns,
      lost,
      lostIds,
    };
  }
}

export interface Consumer {
  /** The node (its URL) consumed from now, or null between connections. */
  readonly node: () => string | null;
  stop(): Promise<void>;
}

/**
 * Consumes `queue` with manual acks into `ledger`, from any of `urls`: when its node goes, the
 * next one that answers. Acks each message after recording it, so a message is redelivered (and
 * counted as a duplicate) only when its ack was lost with a node.
 */
export function consume(
  urls: readonly string[],
  queue: string,
  ledger: Ledger,
  log: (line: string) => void = (line) => console.log(line),
): Consumer {
  let stopped = false;
  let current: { conn: ChannelModel; url: string } | null = null;
  let index = -1;
  async function connectAny(): Promise<{ conn: ChannelModel; url: string } | null> {
    for (let i = 1; !stopped; i++) {
      index = (index + 1) % urls.length;
      const url = urls[index]!;
      try {
        return { conn: await amqp.connect(url, { timeout: 2000 }), url };
      } catch (error) {
        log(`${clockText()} worker: node :${portOf(url)} refused (${(error as Error).message})`);
        if (i % urls.length === 0) await Bun.sleep(500);
      }
    }
    return null;
  }
  const loop = (async () => {
    while (!stopped) {
      const got = await connectAny();
      if (got === null) return;
      const { conn, url } = got;
      current = got;
      log(`${clockText()} worker: consuming from :${portOf(url)}`);
      const closed = new Promise<void>((resolve) => {
        conn.on("close", () => resolve());
        conn.on("error", (e: Error) => log(`${clockText()} worker: link to :${portOf(url)} failed: ${e.message}`));
      });
      try {
        const ch = await conn.createChannel();
        ch.on("error", () => {});
        await ch.prefetch(2000);
        await ch.consume(
          queue,
          (msg) => {
            if (!msg) {
              // basic.cancel: the queue was deleted. Connect and consume again, once it is
              // declared again, rather than sit with no consumer.
              log(
                `${clockText()} worker: queue ${queue} was deleted (consumer cancelled); consuming again once it is declared`,
              );
              void conn.close().catch(() => {});
              return;
            }
            ledger.recordMessage(msg);
            ch.ack(msg);
          },
          { noAck: false },
        );
      } catch (error) {
        log(`${clockText()} worker: consume on :${portOf(url)} failed: ${(error as Error).message}`);
        // A queue not declared yet (404): look again in a moment, not in a hot loop.
        await Bun.sleep(500);
        await conn.close().catch(() => {});
      }
      await closed;
      current = null;
      if (!stopped) log(`${clockText()} worker: lost :${portOf(url)}; reconnecting`);
    }
  })();
  return {
    node: () => current?.url ?? null,
    async stop() {
      stopped = true;
      await current?.conn.close().catch(() => {});
      await Promise.race([loop, Bun.sleep(3000)]);
    },
  };
}

if (import.meta.main) {
  const urls = brokerUrls(process.env.RABBITMQ_URL ?? "");
  const [verb, queue, out] = process.argv.slice(2);
  if (urls.length === 0 || !queue || (verb !== "declare" && verb !== "consume")) {
    console.error("usage: RABBITMQ_URL=amqp://…,amqp://… bun scripts/ha/worker.ts declare|consume QUEUE [OUT.json]");
    process.exit(2);
  }
  if (verb === "declare") {
    const conn = await amqp.connect(urls[0]!, { timeout: 2000 });
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
    console.log(`declared quorum queue ${queue}`);
    await conn.close();
    process.exit(0);
  }
  const ledger = new Ledger();
  consume(urls, queue, ledger);
  let inGap = false;
  setInterval(() => {
    const last = ledger.arrivals.at(-1)?.atMs ?? Date.now();
    if (!inGap && Date.now() - last > 1000) {
      inGap = true;
      console.log(`${clockText()} worker: no delivery since ${clockText(last)}`);
    } else if (inGap && Date.now() - last <= 1000) {
      inGap = false;
      console.log(`${clockText()} worker: deliveries resumed`);
    }
  }, 100);
  setInterval(
    () =>
      console.log(
        `${clockText()} worker: ${ledger.delivered} delivered, ${ledger.ids.size} ids, ${ledger.duplicates.length} duplicates`,
      ),
    10_000,
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      const text = JSON.stringify(ledger.summary(), null, 2);
      if (out) writeFileSync(out, text);
      console.log(text);
      process.exit(0);
    });
  }
}
