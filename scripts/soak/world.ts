/**
 * The soak's world: a fresh database and queue, a consumer recording every message, and one
 * PostgreSQL and one RabbitMQ fault proxy per replica (so one replica's link or all links can be
 * cut). It applies link faults and invalid-row episodes and remembers their windows for the checks.
 */
import { type FaultProxy, startProxy } from "../../test/support/proxy.ts";
import {
  createTestDatabase,
  createTestQueue,
  insertSchedules,
  PG,
  type TestDatabase,
  type TestQueue,
} from "../../test/support/services.ts";
import type { Exclusion, FaultWindow, FinalRow, InitialRow, ReceivedMessage } from "./check.ts";
import { intBetween, type Rng, type Service, type Target } from "./plan.ts";

export interface LinkFault extends FaultWindow {
  readonly service: Service;
  readonly replicas: readonly number[];
}

interface Invalid {
  readonly id: number;
  readonly how: "null-interval" | "neg-infinity";
  readonly intervalSeconds: number;
  readonly oldNextMs: number;
}

export interface World {
  readonly db: TestDatabase;
  readonly queue: TestQueue;
  readonly linkFaults: LinkFault[];
  readonly exclusions: Exclusion[];
  envFor(replica: number): Record<string, string>;
  /** Inserts `count` schedules with intervals of 1–10 s, first due within one interval. */
  insertRows(count: number, rng: Rng): Promise<InitialRow[]>;
  cut(service: Service, target: Target): void;
  /** Stall or outage (refuse + reset) now; `end()` resumes and closes the window. */
  begin(kind: "stall" | "outage", service: Service, target: Target): { end(): void };
  /** Resumes every proxy and closes every open window. */
  endAllFaults(): void;
  /** Makes up to picks.length valid rows invalid; returns the ids. */
  invalidate(how: Invalid["how"], picks: readonly number[]): Promise<number[]>;
  restore(ids: readonly number[]): Promise<void>;
  restoreAll(): Promise<void>;
  readonly invalidCount: number;
  /** Valid active rows overdue by more than `seconds`. */
  overdue(seconds: number): Promise<number>;
  finalRows(): Promise<FinalRow[]>;
  received(): ReceivedMessage[];
  /** When the consumer's own connection closed (then the record of messages is incomplete), or null. */
  readonly consumerLostAt: number | null;
  /** Resolves once the queue is empty and nothing arrived for `quietMs` (bounded by `timeoutMs`). */
  drained(quietMs: number, timeoutMs: number): Promise<boolean>;
}

export async function createWorld(
  replicas: number,
  httpPorts: readonly number[],
  pollSeconds: number,
  cleanups: (() => Promise<unknown>)[],
): Promise<World> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const queue = await createTestQueue();
  cleanups.push(() => queue.drop());
  await queue.consume();
  let consumerLostAt: number | null = null;
  queue.connection.on("close", () => (consumerLostAt ??= Date.now()));
  queue.connection.on("error", () => (consumerLostAt ??= Date.now()));
  const proxies: Record<Service, FaultProxy[]> = { pg: [], mq: [] };
  for (let index = 0; index < replicas; index += 1) {
    for (const [service, port] of [
      ["pg", PG.port],
      ["mq", 5672],
    ] as const) {
      const proxy = await startProxy({ host: "127.0.0.1", port });
      cleanups.push(() => proxy.close());
      proxies[service].push(proxy);
    }
  }
  const indexes = (target: Target) => (target === "all" ? proxies.pg.map((_, index) => index) : [target]);
  const linkFaults: LinkFault[] = [];
  const open = new Set<{ end(): void }>();
  const exclusions: Exclusion[] = [];
  const invalid = new Map<number, Invalid>();
  const grid = new Map<number, InitialRow>();
  const sql = db.sql;
  const dbNowMs = async () =>
    (await sql<{ ms: number }[]>`SELECT (extract(epoch FROM now()) * 1000)::float8 AS ms`)[0]!.ms;

  const world: World = {
    db,
    queue,
    linkFaults,
    exclusions,
    envFor: (replica) => ({
      ...db.env,
      ...queue.env,
      POSTGRES_PORT: String(proxies.pg[replica]!.port),
      RABBITMQ_PORT: String(proxies.mq[replica]!.port),
      SCHEDULER_HTTP_HOST: "127.0.0.1",
      SCHEDULER_HTTP_PORT: String(httpPorts[replica]),
      SCHEDULER_POLL_INTERVAL: String(pollSeconds),
    }),
    async insertRows(count, rng) {
      const specs = Array.from({ length: count }, () => {
        const intervalSeconds = intBetween(rng, 1, 10);
        return { intervalSeconds, dueInMs: 2_000 + Math.floor(rng() * intervalSeconds * 1000), name: "soak" };
      });
      await insertSchedules(sql, specs);
      // Whole milliseconds, so the grid and the messageIds (epoch ms) agree exactly.
      await sql`UPDATE scheduled_workflows SET next_run_at = date_trunc('milliseconds', next_run_at)`;
      const rows = await sql<{ id: number; interval_seconds: number; ms: number }[]>`
        SELECT id, interval_seconds, (extract(epoch FROM next_run_at) * 1000)::float8 AS ms FROM scheduled_workflows ORDER BY id`;
      const initial = rows.map((row) => ({
        id: row.id,
        intervalMs: row.interval_seconds * 1000,
        anchorMs: Math.round(row.ms),
      }));
      for (const row of initial) grid.set(row.id, row);
      return initial;
    },
    cut(service, target) {
      const now = Date.now();
      for (const index of indexes(target)) proxies[service][index]!.reset();
      linkFaults.push({ kind: `cut ${service}`, service, replicas: indexes(target), startMs: now, endMs: now });
    },
    begin(kind, service, target) {
      const chosen = indexes(target);
      const window = {
        kind: `${kind} ${service}`,
        service,
        replicas: chosen,
        startMs: Date.now(),
        endMs: Number.POSITIVE_INFINITY,
      };
      linkFaults.push(window);
      for (const index of chosen) {
        const proxy = proxies[service][index]!;
        if (kind === "stall") proxy.stall();
        else {
          proxy.refuse();
          proxy.reset();
        }
      }
      const handle = {
        end() {
          if (!open.delete(handle)) return;
          for (const index of chosen) proxies[service][index]!.resume();
          window.endMs = Date.now();
        },
      };
      open.add(handle);
      return handle;
    },
    endAllFaults() {
      for (const handle of [...open]) handle.end();
      for (const proxy of [...proxies.pg, ...proxies.mq]) proxy.resume();
    },
    async invalidate(how, picks) {
      const candidates = [...grid.keys()].filter((id) => !invalid.has(id));
      const ids = [...new Set(picks.map((pick) => candidates[Math.floor(pick * candidates.length)]!))].filter(
        (id) => id !== undefined,
      );
      if (ids.length === 0) return [];
      await sql.begin(async (tx) => {
        // A claim stuck behind a stalled link holds its rows until PostgreSQL ends it: wait, bounded.
        await tx`SET LOCAL lock_timeout = '30s'`;
        // Locks first: a claim in flight commits before we read the value we will restore from.
        const before = await tx<{ id: number; interval_seconds: number; ms: number }[]>`
          SELECT id, interval_seconds, (extract(epoch FROM next_run_at) * 1000)::float8 AS ms
            FROM scheduled_workflows WHERE id = ANY(${ids}) FOR UPDATE`;
        if (how === "null-interval")
          await tx`UPDATE scheduled_workflows SET interval_seconds = NULL WHERE id = ANY(${ids})`;
        else await tx`UPDATE scheduled_workflows SET next_run_at = '-infinity' WHERE id = ANY(${ids})`;
        for (const row of before)
          invalid.set(row.id, {
            id: row.id,
            how,
            intervalSeconds: row.interval_seconds,
            oldNextMs: Math.round(row.ms),
          });
      });
      return ids;
    },
    async restore(ids) {
      for (const id of ids) {
        const episode = invalid.get(id);
        if (!episode) continue;
        if (episode.how === "null-interval") {
          // next_run_at was kept: the late slot must fire, with missed_runs covering the rest.
          await sql`UPDATE scheduled_workflows SET interval_seconds = ${episode.intervalSeconds} WHERE id = ${id}`;
        } else {
          const row = grid.get(id)!;
          const nowMs = await dbNowMs();
          const nextMs = row.anchorMs + Math.ceil((nowMs + 500 - row.anchorMs) / row.intervalMs) * row.intervalMs;
          await sql`
            UPDATE scheduled_workflows SET next_run_at = to_timestamp(${nextMs / 1000}::float8) AT TIME ZONE 'UTC' WHERE id = ${id}`;
          exclusions.push({ id, fromMs: episode.oldNextMs, toMs: nextMs });
        }
        invalid.delete(id);
      }
    },
    async restoreAll() {
      await world.restore([...invalid.keys()]);
    },
    get invalidCount() {
      return invalid.size;
    },
    async overdue(seconds) {
      const [row] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM scheduled_workflows
         WHERE is_active AND interval_seconds > 0 AND next_run_at > '-infinity'
           AND next_run_at < (now() AT TIME ZONE 'UTC') - make_interval(secs => ${seconds})`;
      return row!.n;
    },
    async finalRows() {
      const rows = await sql<
        {
          id: number;
          ms: number | null;
          interval_seconds: number | null;
          failure_count: number;
          last_error: string | null;
        }[]
      >`
        SELECT id, (extract(epoch FROM next_run_at) * 1000)::float8 AS ms, interval_seconds, failure_count, last_error
          FROM scheduled_workflows ORDER BY id`;
      return rows.map((row) => ({
        id: row.id,
        nextMs: row.ms === null ? null : Math.round(row.ms),
        intervalSeconds: row.interval_seconds,
        failureCount: row.failure_count,
        lastError: row.last_error,
      }));
    },
    received: () =>
      queue.messages.map((m) => ({
        messageId: String(m.raw.properties.messageId),
        body: m.body,
        receivedAt: m.receivedAt,
      })),
    get consumerLostAt() {
      return consumerLostAt;
    },
    async drained(quietMs, timeoutMs) {
      if (consumerLostAt !== null) return false;
      // amqplib can wait forever on a connection that died: every step races the deadline.
      const deadline = Date.now() + timeoutMs;
      const bounded = <T>(step: Promise<T>) =>
        Promise.race([
          step,
          Bun.sleep(Math.max(0, deadline - Date.now())).then(() => Promise.reject(new Error("timed out"))),
        ]);
      let channel: Awaited<ReturnType<typeof queue.connection.createChannel>> | null = null;
      try {
        channel = await bounded(queue.connection.createChannel());
        for (;;) {
          const seen = queue.messages.length;
          await Bun.sleep(quietMs);
          const { messageCount } = await bounded(channel.checkQueue(queue.name));
          if (messageCount === 0 && queue.messages.length === seen) return true;
          if (Date.now() > deadline) return false;
        }
      } catch {
        return false;
      } finally {
        void channel?.close().catch(() => {});
      }
    },
  };
  return world;
}
