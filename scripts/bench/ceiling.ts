/**
 * Ceilings, measured in the same run as the scheduler they bound:
 * - publish, same messages: a bare amqplib confirm channel sending the scheduler's own messages
 *   (same bytes, same properties, persistent, mandatory) in batches of `batch`, waiting for the
 *   broker's confirms after each batch, as the scheduler does per claim;
 * - publish, small messages: the same loop with about 240-byte JSON bodies, persistent, no other
 *   property, mandatory off: what a bare publisher of small messages gets from this broker;
 * - SQL: a bare claim-and-advance loop, `batch` rows a transaction (SELECT … FOR UPDATE SKIP
 *   LOCKED with the workflow join, UPDATE … FROM unnest, COMMIT), with no publishing.
 * Each publish ceiling sends into a fresh durable queue. Messages are built before the clock starts.
 */
import amqp, { type Options } from "amqplib";
import { dbNowMs, insertSchedulesAt, insertWorkflows, remainingDue, sampleMessages, smallMessages } from "./data.ts";
import { createDatabase, createQueue, MQ_URL, nowMs, waitUntil } from "./env.ts";
import { cpuBetween, cpuByCommand, cpuByPid, machineSample } from "./process.ts";
import { startWorker } from "./worker.ts";

export interface Rate {
  readonly count: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Body size of each message (publish ceilings only). */
  readonly messageBytes?: number;
  /**
   * CPU over the measurement, in % of one core: this process (the publisher, or the SQL loop's
   * client), RabbitMQ and PostgreSQL (all its processes), and the whole machine in % of all cores.
   */
  readonly cpu?: CeilingCpu;
}

export interface CeilingCpu {
  /** CPU seconds over the measurement: this process, RabbitMQ, PostgreSQL (for the cost per message). */
  readonly clientSeconds: number;
  readonly brokerSeconds: number;
  readonly postgresSeconds: number;
  readonly clientPercent: number;
  readonly brokerPercent: number;
  readonly postgresPercent: number;
  readonly machineBusyPercent: number;
}

/** Starts a CPU account of this process, RabbitMQ, PostgreSQL and the machine; `stop` gives it over the elapsed time. */
function cpuAccount(): { stop(elapsedMs: number): CeilingCpu } {
  const own = process.cpuUsage();
  const broker = cpuByPid("beam.smp");
  const services = cpuByCommand(["postgres"]);
  const machine = machineSample();
  return {
    stop(elapsedMs) {
      const ownNow = process.cpuUsage(own);
      const servicesNow = cpuByCommand(["postgres"]);
      const machineNow = machineSample();
      const pct = (seconds: number) => (100 * seconds) / (elapsedMs / 1000);
      const clientSeconds = (ownNow.user + ownNow.system) / 1e6;
      const brokerSeconds = cpuBetween(broker, cpuByPid("beam.smp"));
      const postgresSeconds = servicesNow.postgres! - services.postgres!;
      return {
        clientSeconds,
        brokerSeconds,
        postgresSeconds,
        clientPercent: pct(clientSeconds),
        brokerPercent: pct(brokerSeconds),
        postgresPercent: pct(postgresSeconds),
        machineBusyPercent:
          (100 * (machineNow.busySeconds - machine.busySeconds)) / (machineNow.totalSeconds - machine.totalSeconds),
      };
    },
  };
}

const rate = (count: number, ms: number): Rate => ({ count, seconds: ms / 1000, perSecond: count / (ms / 1000) });

export type Message = { readonly body: Buffer; readonly options: Options.Publish };

/**
 * The scheduler's own messages for `count` schedules of `payloadBytes`. With `worker`, a worker
 * (worker.ts) drains the queue meanwhile, and the measurement ends once it has every message.
 */
export async function publishCeiling(
  count: number,
  batch: number,
  payloadBytes: number,
  worker = false,
): Promise<Rate> {
  const db = await createDatabase("rune_bench_ceiling");
  let messages: Message[];
  try {
    messages = (await sampleMessages(db.sql, count, payloadBytes)).map((m) => ({
      body: m.body,
      options: { ...m.properties },
    }));
  } finally {
    await db.drop();
  }
  return publishLoop(messages, batch, worker);
}

/** `count` small JSON messages of about `bodyBytes` bytes, persistent, mandatory off. */
export async function smallPublishCeiling(count: number, batch: number, bodyBytes: number): Promise<Rate> {
  return publishLoop(
    smallMessages(count, bodyBytes).map((body) => ({ body, options: { persistent: true } })),
    batch,
  );
}

/**
 * Publishes `messages` in batches of `batch`, `waitForConfirms` after each; times first publish →
 * last confirm (and, with `worker`, the worker's receipt of the last message).
 */
export async function publishLoop(
  messages: readonly Message[],
  batch: number,
  withWorker = false,
  queueArguments?: Record<string, unknown>,
): Promise<Rate> {
  const queue = await createQueue("rune_bench_ceiling", queueArguments);
  const worker = withWorker ? await startWorker(queue.name) : null;
  try {
    // The same connection options as src/rabbitmq/broker.ts (frame size, Nagle off).
    const connection = await amqp.connect(`${MQ_URL}?frameMax=131072&heartbeat=10`, {
      noDelay: true,
      clientProperties: { connection_name: "rune-bench-ceiling" },
    });
    connection.on("error", () => {}); // a broker restart is noticed by the measurement's guard
    try {
      const channel = await connection.createConfirmChannel();
      const count = messages.length;
      const account = cpuAccount();
      const started = nowMs();
      for (let from = 0; from < count; from += batch) {
        for (let i = from; i < Math.min(count, from + batch); i++) {
          if (!channel.publish("", queue.name, messages[i]!.body, messages[i]!.options)) {
            await new Promise((resolve) => channel.once("drain", resolve));
          }
        }
        await channel.waitForConfirms();
      }
      if (worker)
        await waitUntil(`the worker to receive ${count} messages`, () => worker.received() >= count, 60_000, 2);
      const elapsed = nowMs() - started;
      const cpu = account.stop(elapsed);
      const depth = worker ? worker.received() : await queue.depth();
      if (depth !== count) throw new Error(`publish ceiling: ${depth} messages in the queue, expected ${count}`);
      return { ...rate(count, elapsed), messageBytes: messages[0]!.body.byteLength, cpu };
    } finally {
      await connection.close().catch(() => {});
    }
  } finally {
    await worker?.stop();
    await queue.drop();
  }
}

export async function sqlCeiling(count: number, batch: number, payloadBytes: number): Promise<Rate> {
  const db = await createDatabase("rune_bench_ceiling");
  const { sql } = db;
  try {
    const slotMs = (await dbNowMs(sql)) - 1_000;
    await insertWorkflows(sql, count, payloadBytes);
    await insertSchedulesAt(sql, count, slotMs);
    await sql`ANALYZE`;
    const account = cpuAccount();
    const started = nowMs();
    for (;;) {
      const claimed = await sql.begin(async (tx) => {
        const rows = await tx<{ id: number; slot_ms: number; interval_seconds: number; name: string; data: string }[]>`
          SELECT sw.id, (extract(epoch FROM sw.next_run_at) * 1000)::float8 AS slot_ms, sw.interval_seconds,
                 w.name, w.workflow_data::text AS data
            FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
           WHERE sw.is_active AND sw.interval_seconds > 0 AND sw.next_run_at <= now()
           ORDER BY sw.next_run_at LIMIT ${batch}
             FOR NO KEY UPDATE OF sw SKIP LOCKED`;
        if (rows.length === 0) return 0;
        const ids = rows.map((r) => r.id);
        const next = rows.map((r) => r.slot_ms + r.interval_seconds * 1000);
        await tx`
          UPDATE scheduled_workflows sw
             SET next_run_at = to_timestamp(u.next_ms / 1000.0), last_run_at = now(),
                 run_count = sw.run_count + 1, failure_count = 0, last_error = NULL, updated_at = now()
            FROM unnest(${tx.array(ids, 23)}::int4[], ${tx.array(next, 701)}::float8[]) AS u(id, next_ms)
           WHERE sw.id = u.id`;
        return rows.length;
      });
      if (claimed < batch) break;
    }
    const elapsed = nowMs() - started;
    const cpu = account.stop(elapsed);
    const left = await remainingDue(sql, slotMs);
    if (left !== 0) throw new Error(`SQL ceiling: ${left} rows not advanced`);
    return { ...rate(count, elapsed), cpu };
  } finally {
    await db.drop();
  }
}
