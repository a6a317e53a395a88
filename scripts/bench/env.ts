/**
 * The benchmark's world: the machine it ran on, a throw-away database and queue per measurement,
 * and a guard against the shared services restarting under a measurement. Everything made here
 * (and the schedulers of process.ts) is registered for cleanup, so an interrupted run leaves
 * nothing behind.
 */

import { readFileSync } from "node:fs";
import os from "node:os";
import amqp, { type Channel, type ChannelModel } from "amqplib";
import postgres from "postgres";

export type Sql = postgres.Sql;

export const PG = { host: "127.0.0.1", port: 5432, user: "postgres" } as const;
export const MQ_URL = "amqp://guest:guest@127.0.0.1:5672";
const SCHEMA = readFileSync(new URL("../schema.sql", import.meta.url), "utf8");

/** Local wall time with sub-millisecond resolution (the DB and the host share the clock here). */
export const nowMs = () => performance.timeOrigin + performance.now();

const cleanups = new Set<() => Promise<void>>();
/** Runs every pending cleanup (databases, queues, children), newest first. */
export async function cleanupAll(): Promise<void> {
  for (const cleanup of [...cleanups].reverse()) await cleanup();
}

/** Whatever `cleanupAll` could not remove (a service was down), named for the operator. */
export const leftovers = () => cleanups.size;
/** A cleanup that never throws: if it fails (a service is down), it stays registered for `cleanupAll`. */
export function register(cleanup: () => Promise<void>): () => Promise<void> {
  let done = false;
  const once = async () => {
    if (done) return;
    try {
      await cleanup();
      done = true;
      cleanups.delete(once);
    } catch (error) {
      process.stderr.write(`bench: cleanup failed, will retry at exit: ${(error as Error).message}\n`);
    }
  };
  cleanups.add(once);
  return once;
}

let counter = 0;
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
}

export interface Hardware {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly postgres: string;
  readonly rabbitmq: string;
  readonly bun: string;
  /** One line for the table and for every figure. */
  readonly summary: string;
}

export async function describeHardware(): Promise<Hardware> {
  const root = postgres({ ...PG, database: "postgres", max: 1, onnotice: () => {} });
  const [pgRow] = await root<{ server_version: string }[]>`SHOW server_version`;
  await root.end();
  const connection = await amqp.connect(MQ_URL);
  const server = (connection.connection as unknown as { serverProperties?: { version?: string } }).serverProperties;
  await connection.close();
  const cpus = os.cpus();
  const hw = {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    postgres: pgRow!.server_version.split(" ")[0]!,
    rabbitmq: server?.version ?? "unknown",
    bun: Bun.version,
  };
  const summary =
    `${hw.cpus} vCPU ${hw.cpuModel}, ${hw.memoryGiB} GiB, ${hw.kernel}; PostgreSQL ${hw.postgres} and ` +
    `RabbitMQ ${hw.rabbitmq} on the same host (default settings); Bun ${hw.bun}`;
  return { ...hw, summary };
}

export interface BenchDatabase {
  readonly name: string;
  readonly sql: Sql;
  drop(): Promise<void>;
}

/** A fresh database with the reference schema; dropped by `drop()` or at exit. */
export async function createDatabase(prefix = "rune_bench"): Promise<BenchDatabase> {
  const name = uniqueName(prefix);
  const root = postgres({ ...PG, database: "postgres", max: 1, onnotice: () => {} });
  await root.unsafe(`CREATE DATABASE ${name}`);
  await root.end();
  const sql = postgres({ ...PG, database: name, max: 4, onnotice: () => {}, connection: { TimeZone: "UTC" } });
  await sql.unsafe(SCHEMA);
  const drop = register(async () => {
    await sql.end({ timeout: 1 }).catch(() => {});
    const root2 = postgres({ ...PG, database: "postgres", max: 1, onnotice: () => {} });
    await root2.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await root2.end();
  });
  return { name, sql, drop };
}

export interface BenchQueue {
  readonly name: string;
  readonly connection: ChannelModel;
  readonly channel: Channel;
  depth(): Promise<number>;
  /**
   * Starts watching for the first message (a consumer with prefetch 1, before the publisher
   * starts). `arrived` resolves with the local time it was delivered; the message is then put
   * back (its channel is closed unacknowledged), so the queue depth still counts every message.
   */
  watchFirst(): Promise<{ arrived: Promise<number>; stop(): Promise<void> }>;
  drop(): Promise<void>;
}

/** What the scheduler declares for a missing queue on this broker (RabbitMQ 3.10 and later). */
export const SCHEDULER_QUEUE_ARGUMENTS = { "x-queue-type": "classic", "x-queue-version": 2 } as const;

/** A fresh durable queue (by default what the scheduler would declare), deleted by `drop()` or at exit. */
export async function createQueue(
  prefix = "rune_bench",
  queueArguments: Record<string, unknown> = SCHEDULER_QUEUE_ARGUMENTS,
): Promise<BenchQueue> {
  const name = uniqueName(prefix);
  const connection = await amqp.connect(MQ_URL);
  const channel = await connection.createChannel();
  await channel.assertQueue(name, { durable: true, arguments: queueArguments });
  const drop = register(async () => {
    try {
      const cleanup = await connection.createChannel();
      await cleanup.deleteQueue(name);
      await connection.close().catch(() => {});
    } catch {
      // The connection is gone (a broker restart, say): delete the queue over a new one.
      const fresh = await amqp.connect(MQ_URL);
      await (await fresh.createChannel()).deleteQueue(name).catch(() => {});
      await fresh.close().catch(() => {});
    }
  });
  connection.on("error", () => {});
  return {
    name,
    connection,
    channel,
    depth: async () => (await channel.checkQueue(name)).messageCount,
    watchFirst: async () => {
      const watcher = await connection.createChannel();
      await watcher.prefetch(1);
      let resolveArrived!: (at: number) => void;
      const arrived = new Promise<number>((resolve) => (resolveArrived = resolve));
      let closed: Promise<void> | null = null;
      const close = () => (closed ??= watcher.close().catch(() => {}));
      await watcher.consume(name, (message) => {
        if (!message || closed) return;
        resolveArrived(nowMs());
        void close();
      });
      return { arrived, stop: close };
    },
    drop,
  };
}

/** Database clock minus local clock, ms: the sharpest of a few bracketed readings. */
export async function dbClockOffsetMs(sql: Sql): Promise<number> {
  let best = { roundTrip: Number.POSITIVE_INFINITY, offset: 0 };
  for (let i = 0; i < 7; i++) {
    const before = nowMs();
    const [row] = await sql<{ ms: number }[]>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`;
    const after = nowMs();
    if (after - before < best.roundTrip) best = { roundTrip: after - before, offset: row!.ms - (before + after) / 2 };
  }
  return best.offset;
}

/**
 * Notices a restart of PostgreSQL or RabbitMQ during a measurement (other test suites on a shared
 * machine may restart them): the server's start time, and a sentinel AMQP connection.
 */
export async function serviceGuard(): Promise<{ intact(): Promise<boolean>; close(): Promise<void> }> {
  const startTime = async () => {
    const root = postgres({ ...PG, database: "postgres", max: 1, onnotice: () => {}, connect_timeout: 5 });
    try {
      const [row] = await root<{ t: string }[]>`SELECT pg_postmaster_start_time()::text AS t`;
      return row!.t;
    } finally {
      await root.end({ timeout: 1 }).catch(() => {});
    }
  };
  const started = await startTime();
  const sentinel = await amqp.connect(MQ_URL);
  let brokerLost = false;
  sentinel.on("error", () => (brokerLost = true));
  sentinel.on("close", () => (brokerLost = true));
  return {
    intact: async () => !brokerLost && (await startTime().catch(() => null)) === started,
    close: async () => {
      sentinel.removeAllListeners("close");
      await sentinel.close().catch(() => {});
    },
  };
}

/** Waits until both services answer again (after a restart by someone else). */
export async function waitForServices(timeoutMs: number): Promise<void> {
  await waitUntil(
    "PostgreSQL and RabbitMQ to answer",
    async () => {
      try {
        const root = postgres({ ...PG, database: "postgres", max: 1, onnotice: () => {}, connect_timeout: 2 });
        await root`SELECT 1`;
        await root.end({ timeout: 1 });
        const connection = await amqp.connect(MQ_URL);
        await connection.close();
        return true;
      } catch {
        return false;
      }
    },
    timeoutMs,
    1_000,
  );
}

/** Polls `condition` every `everyMs` until it holds; throws after the deadline with `what`. */
export async function waitUntil(
  what: string,
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 20,
): Promise<number> {
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    if (await condition()) return nowMs();
    if (nowMs() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}
