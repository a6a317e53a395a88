/**
 * Real PostgreSQL and RabbitMQ for tests: every test file gets its own database and queue,
 * named uniquely, so files never see each other's rows or messages.
 */

import { readFileSync } from "node:fs";
import amqp, { type ChannelModel, type ConsumeMessage } from "amqplib";
import postgres from "postgres";

export const PG = { host: "127.0.0.1", port: 5432, user: "postgres" } as const;
export const MQ = { host: "127.0.0.1", port: 5672 } as const;
export const MQ_URL = `amqp://guest:guest@${MQ.host}:${MQ.port}`;

const SCHEMA = readFileSync(new URL("../../scripts/schema.sql", import.meta.url), "utf8");

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`;
}

export interface TestDatabase {
  readonly name: string;
  readonly sql: postgres.Sql;
  /** Environment for a scheduler pointed at this database. */
  readonly env: Record<string, string>;
  drop(): Promise<void>;
}

const admin = () => postgres({ ...PG, database: "postgres", max: 1, onnotice: () => {} });

export async function createTestDatabase(options: { schema?: boolean } = {}): Promise<TestDatabase> {
  const name = uniqueName("rune_test");
  const root = admin();
  await root.unsafe(`CREATE DATABASE ${name}`);
  await root.end();
  const sql = postgres({ ...PG, database: name, max: 4, onnotice: () => {}, connection: { TimeZone: "UTC" } });
  if (options.schema !== false) await sql.unsafe(SCHEMA);
  return {
    name,
    sql,
    env: { POSTGRES_HOST: PG.host, POSTGRES_PORT: String(PG.port), POSTGRES_USER: PG.user, POSTGRES_DB: name },
    async drop() {
      await sql.end({ timeout: 1 });
      await dropDatabase(name);
    },
  };
}

/** Drops database `name` if it exists, closing whatever sessions it still has. */
export async function dropDatabase(name: string): Promise<void> {
  const root = admin();
  await root.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await root.end();
}

export interface Received {
  readonly body: Record<string, unknown>;
  readonly raw: ConsumeMessage;
  readonly receivedAt: number;
}

export interface TestQueue {
  readonly name: string;
  readonly env: Record<string, string>;
  readonly messages: Received[];
  /** Starts consuming into `messages`. */
  consume(): Promise<void>;
  connection: ChannelModel;
  drop(): Promise<void>;
}

export async function createTestQueue(
  options: { declare?: boolean; arguments?: Record<string, unknown> } = {},
): Promise<TestQueue> {
  const name = uniqueName("rune_q");
  const connection = await amqp.connect(MQ_URL);
  const channel = await connection.createChannel();
  if (options.declare !== false) await channel.assertQueue(name, { durable: true, arguments: options.arguments ?? {} });
  const messages: Received[] = [];
  return {
    name,
    connection,
    messages,
    env: { RABBITMQ_HOST: "127.0.0.1", RABBITMQ_PORT: "5672", RABBITMQ_QUEUE: name },
    async consume() {
      await channel.consume(
        name,
        (raw) => {
          if (!raw) return;
          messages.push({ body: JSON.parse(raw.content.toString("utf8")), raw, receivedAt: Date.now() });
          channel.ack(raw);
        },
        { noAck: false },
      );
    },
    async drop() {
      const cleanup = await connection.createChannel();
      await cleanup.deleteQueue(name).catch(() => {});
      await connection.close().catch(() => {});
    },
  };
}

/** Polls `condition` until it holds or the deadline passes (then fails with `what`). */
export async function waitFor<T>(
  what: string,
  condition: () => T | Promise<T>,
  timeoutMs = 15_000,
  everyMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    await Bun.sleep(everyMs);
  }
}

/** Inserts a workflow and schedules for it; returns the schedule ids. `dueInMs` is relative to the database clock. */
export async function insertSchedules(
  sql: postgres.Sql,
  rows: { dueInMs: number; intervalSeconds: number; data?: unknown; name?: string }[],
): Promise<number[]> {
  const ids: number[] = [];
  for (const row of rows) {
    const [workflow] = await sql<{ id: number }[]>`
      INSERT INTO workflows (name, workflow_data) VALUES (${row.name ?? "wf"}, ${sql.json((row.data ?? { step: 1 }) as never)}) RETURNING id`;
    const [schedule] = await sql<{ id: number }[]>`
      INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds)
      VALUES (${workflow!.id}, (now() AT TIME ZONE 'UTC') + make_interval(secs => ${row.dueInMs / 1000}), ${row.intervalSeconds})
      RETURNING id`;
    ids.push(schedule!.id);
  }
  return ids;
}

/** `count` schedules of one workflow due at `firstDueSql` (an SQL expression in database time). */
export async function bulkInsert(
  db: TestDatabase,
  count: number,
  intervalSeconds: number,
  firstDueSql: string,
): Promise<void> {
  const [workflow] = await db.sql<
    { id: number }[]
  >`INSERT INTO workflows (name, workflow_data) VALUES ('bulk', '{"k": 1}') RETURNING id`;
  await db.sql.unsafe(
    `INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds)
     SELECT $1, ${firstDueSql}, $2 FROM generate_series(1, $3)`,
    [workflow!.id, intervalSeconds, count],
  );
}
