/**
 * A scheduler wired through fault proxies: its own database, queue, PostgreSQL and RabbitMQ
 * proxies and HTTP port, plus the probes the resilience tests assert on (rows, readiness).
 */
import type { Running } from "./binary.ts";
import { freePort } from "./ports.ts";
import type { FaultProxy } from "./proxy.ts";
import type { Scope } from "./scope.ts";
import { MQ, PG, type TestDatabase, type TestQueue, waitFor } from "./services.ts";

export interface Rig {
  readonly db: TestDatabase;
  readonly queue: TestQueue;
  readonly pgProxy: FaultProxy;
  readonly mqProxy: FaultProxy;
  readonly httpPort: number;
  /** Environment for a scheduler that reaches both services through the proxies. */
  readonly env: Record<string, string>;
  /** `scope.start` with this rig's `env` and `extra` over it: SIGKILLed with the scope. */
  start(extra?: Record<string, string>): Running;
  /**
   * Starts a scheduler and waits until it is running: both links up, ready, and its first cycle
   * done (a poll counted), so start-up is over and SCHEDULER_MAX_RETRIES no longer applies.
   */
  startRunning(extra?: Record<string, string>): Promise<Running>;
  /** HTTP status of /readyz, or 0 when the server does not answer. */
  readyz(): Promise<number>;
  /** The body of /readyz (why it is not ready), or "" when the server does not answer. */
  readyzReason(): Promise<string>;
  /** `rune_scheduler_<name>` from /metrics, or null. */
  metric(name: string): Promise<number | null>;
  rows(): Promise<RowState[]>;
  /** Sessions of the scheduler idle inside a transaction: claims waiting for the broker. */
  openClaims(): Promise<number>;
  /** messageIds received so far. */
  messageIds(): string[];
}

export interface RowState {
  id: number;
  run_count: number;
  failure_count: number;
  last_error: string | null;
  due: boolean;
}

/** Builds a rig from `scope` (test/support/scope.ts), which owns and tears down all of it. */
export async function createRig(
  scope: Pick<Scope, "database" | "queue" | "proxy" | "start">,
  options: { queueArguments?: Record<string, unknown> } = {},
): Promise<Rig> {
  const db = await scope.database();
  const queue = await scope.queue({ arguments: options.queueArguments });
  await queue.consume();
  const pgProxy = await scope.proxy(PG);
  const mqProxy = await scope.proxy(MQ);
  const httpPort = await freePort();
  const env = {
    ...db.env,
    ...queue.env,
    POSTGRES_PORT: String(pgProxy.port),
    RABBITMQ_PORT: String(mqProxy.port),
    SCHEDULER_HTTP_PORT: String(httpPort),
    SCHEDULER_POLL_INTERVAL: "1",
    SCHEDULER_CONNECT_TIMEOUT: "3",
  };
  const base = `http://127.0.0.1:${httpPort}`;
  const rig: Rig = {
    db,
    queue,
    pgProxy,
    mqProxy,
    httpPort,
    env,
    start: (extra = {}) => scope.start({ ...env, ...extra }),
    async startRunning(extra = {}) {
      const scheduler = rig.start(extra);
      await scheduler.waitForLine(/RabbitMQ connection established/);
      await waitFor("ready", async () => (await rig.readyz()) === 200, 5_000);
      await waitFor("the first poll", async () => ((await rig.metric("checks_total")) ?? 0) >= 1, 5_000, 20);
      return scheduler;
    },
    async readyz() {
      try {
        return (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1_000) })).status;
      } catch {
        return 0;
      }
    },
    async readyzReason() {
      try {
        return (await (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1_000) })).text()).trim();
      } catch {
        return "";
      }
    },
    async metric(name) {
      try {
        const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(1_000) })).text();
        const line = text.split("\n").find((l) => l.startsWith(`rune_scheduler_${name} `));
        return line ? Number(line.split(" ")[1]) : null;
      } catch {
        return null;
      }
    },
    rows: () =>
      db.sql<RowState[]>`
        SELECT id, run_count, failure_count, last_error, next_run_at <= (now() AT TIME ZONE 'UTC') AS due
          FROM scheduled_workflows ORDER BY id`,
    messageIds: () => queue.messages.map((m) => m.raw.properties.messageId as string),
    async openClaims() {
      const [row] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = ${db.name} AND application_name = 'rune-scheduler' AND state = 'idle in transaction'`;
      return row!.n;
    },
  };
  return rig;
}

/** Counts of each value: for "no duplicates" checks. */
export function duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const value of values) (seen.has(value) ? twice : seen).add(value);
  return [...twice];
}
