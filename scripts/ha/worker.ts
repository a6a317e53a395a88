/**
 * A worker for the HA rig: consumes the scheduler's queue with manual acks from whichever node of
 * the cluster answers, and accounts for every slot, so a fault's cost can be read off.
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
import amqp, { type Channel, type ChannelModel } from "amqplib";

const urls = (process.env.RABBITMQ_URL ?? "").split(/\s*,\s*(?=amqps?:\/\/)/i).filter(Boolean);
const [verb, queue, out] = process.argv.slice(2);
if (urls.length === 0 || !queue || (verb !== "declare" && verb !== "consume")) {
  console.error("usage: RABBITMQ_URL=amqp://…,amqp://… bun scripts/ha/worker.ts declare|consume QUEUE [OUT.json]");
  process.exit(2);
}
const now = () => new Date().toISOString().slice(11, 23);
const where = (url: string) => new URL(url).port;

async function connectAny(start: number): Promise<{ conn: ChannelModel; index: number }> {
  for (let i = 0; ; i++) {
    const index = (start + i) % urls.length;
    try {
      return { conn: await amqp.connect(urls[index]!, { timeout: 2000 }), index };
    } catch (error) {
      console.log(`${now()} worker: node :${where(urls[index]!)} refused (${(error as Error).message})`);
      if (i % urls.length === urls.length - 1) await Bun.sleep(500);
    }
  }
}

if (verb === "declare") {
  const { conn } = await connectAny(0);
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
  console.log(`declared quorum queue ${queue}`);
  await conn.close();
  process.exit(0);
}

/** schedule → slot → missed_runs. */
const bySchedule = new Map<number, Map<number, number>>();
const ids = new Map<string, number>();
const duplicates: { id: string; at: string; times: number }[] = [];
let delivered = 0;
let differing = 0;
let lastDelivery = Date.now();
let inGap = false;
let node = -1;

function onMessage(ch: Channel, msg: amqp.ConsumeMessage): void {
  const id = String(msg.properties.messageId);
  const times = (ids.get(id) ?? 0) + 1;
  ids.set(id, times);
  if (times > 1) duplicates.push({ id, at: now(), times });
  const body = JSON.parse(msg.content.toString("utf8")) as { schedule_id: number; missed_runs: number };
  const slot = Number(id.split(":")[1]);
  // Copies of one slot can differ: one published on time says missed_runs 0, its re-publish after
  // an outage counts the slots skipped since. The largest is the one the row was recorded with.
  const slots = bySchedule.get(body.schedule_id) ?? new Map<number, number>();
  const before = slots.get(slot);
  if (before !== undefined && before !== body.missed_runs) differing++;
  slots.set(slot, Math.max(before ?? 0, body.missed_runs));
  bySchedule.set(body.schedule_id, slots);
  delivered++;
  const t = Date.now();
  if (inGap) console.log(`${now()} worker: deliveries resumed after ${((t - lastDelivery) / 1000).toFixed(2)} s`);
  inGap = false;
  lastDelivery = t;
  ch.ack(msg);
}

async function consumeForever(): Promise<void> {
  for (;;) {
    const { conn, index } = await connectAny(node + 1);
    node = index;
    console.log(`${now()} worker: consuming from :${where(urls[index]!)}`);
    const closed = new Promise<void>((resolve) => {
      conn.on("close", () => resolve());
      conn.on("error", (e) => console.log(`${now()} worker: link to :${where(urls[index]!)} failed: ${e.message}`));
    });
    try {
      const ch = await conn.createChannel();
      ch.on("error", () => {});
      await ch.prefetch(2000);
      await ch.consume(queue!, (msg) => msg && onMessage(ch, msg), { noAck: false });
    } catch (error) {
      console.log(`${now()} worker: consume on :${where(urls[index]!)} failed: ${(error as Error).message}`);
      await conn.close().catch(() => {});
    }
    await closed;
    console.log(`${now()} worker: lost :${where(urls[index]!)}; reconnecting`);
  }
}

setInterval(() => {
  if (!inGap && Date.now() - lastDelivery > 1000) {
    inGap = true;
    console.log(`${now()} worker: no delivery since ${new Date(lastDelivery).toISOString().slice(11, 23)}`);
  }
}, 100);
setInterval(
  () => console.log(`${now()} worker: ${delivered} delivered, ${ids.size} ids, ${duplicates.length} duplicates`),
  10_000,
);

/** Slots between two delivered ones that the earlier message does not count as missed. */
function summary() {
  let lost = 0;
  let missed = 0;
  const lostIds: string[] = [];
  for (const [schedule, slots] of bySchedule) {
    const seen = [...slots].map(([slot, missed]) => ({ slot, missed })).sort((a, b) => a.slot - b.slot);
    for (let i = 1; i < seen.length; i++) {
      // missed_runs looks forward: the slots passed over between this fire and the row's next one.
      const skipped = Math.round((seen[i]!.slot - seen[i - 1]!.slot) / 1000) - 1;
      missed += seen[i - 1]!.missed;
      if (skipped > seen[i - 1]!.missed) {
        lost += skipped - seen[i - 1]!.missed;
        if (lostIds.length < 50) lostIds.push(`${schedule}:${seen[i - 1]!.slot}..${seen[i]!.slot}`);
      }
    }
  }
  return {
    delivered,
    uniqueIds: ids.size,
    schedules: bySchedule.size,
    duplicates: duplicates.length,
    duplicatesWithOtherMissedRuns: differing,
    duplicatesBySecond: Object.fromEntries(
      Array.from(
        Map.groupBy(duplicates, (d) => d.at.slice(0, 8)),
        ([at, list]) => [at, list.length],
      ),
    ),
    duplicateIds: duplicates.slice(0, 20).map((d) => d.id),
    missedRuns: missed,
    lost,
    lostIds,
  };
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    const result = summary();
    const text = JSON.stringify(result, null, 2);
    if (out) writeFileSync(out, text);
    console.log(text);
    process.exit(0);
  });
}
await consumeForever();
