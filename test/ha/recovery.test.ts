/**
 * How soon fires resume after faults only real servers can make, on the HA rig
 * (scripts/ha/rig.sh; never the shared services): a RabbitMQ memory alarm, a read-only primary,
 * a primary with every connection slot taken while our backends are terminated, and the whole
 * RabbitMQ cluster stopped. One replica fires 100 schedules every second while the rig's worker
 * consumes. For each fault: /readyz and the lines name it while it lasts, and the first delivery
 * after it ended comes within a bound (generous here; scripts/bench/recovery.ts measures).
 * During the alarm no claim transaction of ours stays open (pg_stat_activity).
 *
 * It needs root, Debian's postgresql-15 and rabbitmq-server (CI has them): without them it fails,
 * it never skips.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type postgres from "postgres";
import {
  fillPrimary,
  memoryAlarm,
  primary,
  readOnly,
  rig,
  rigEnv,
  startCluster,
  stopCluster,
} from "../../scripts/ha/faults.ts";
import { brokerUrls, type Consumer, consume, Ledger } from "../../scripts/ha/worker.ts";
import { type Running, startBinary } from "../support/binary.ts";
import { waitFor } from "../support/services.ts";

const HTTP_PORT = 56201;
const QUEUE = "workflow_queue";
const SCHEDULES = 100;
const FAULT_MS = 10_000;
/** From the end of a fault to the first delivery: generous (the engine tries every 1–1.2 s). */
const FIRST_FIRE_BOUND_MS = 3_000;
/**
 * The whole cluster back: the queue must elect a leader before it takes a publish, which took
 * 0.6–4.8 s in clean-clone runs (Raft timeouts), on top of the engine's 1–1.2 s retries.
 */
const QUORUM_FIRE_BOUND_MS = 8_000;
const FAULT_TIMEOUT_MS = 120_000;

async function readyz(): Promise<{ status: number; reason: string }> {
  try {
    const response = await fetch(`http://127.0.0.1:${HTTP_PORT}/readyz`, { signal: AbortSignal.timeout(1_000) });
    return { status: response.status, reason: (await response.text()).trim() };
  } catch {
    return { status: 0, reason: "" };
  }
}

let replica: Running;
let worker: Consumer | null = null;
const ledger = new Ledger();
const measures: string[] = [];
/** The primary, as a superuser of the rig's own (never the shared server). */
let admin: postgres.Sql;

/** The first delivery at or after `endedMs`, and how long after it, recorded for the summary. */
async function firstFireAfter(name: string, endedMs: number): Promise<number> {
  const at = await waitFor("a delivery after the fault", () => ledger.firstArrivalAfter(endedMs), 30_000, 50);
  const ms = at - endedMs;
  measures.push(`[measure] ${name} | first delivery after it ended ${(ms / 1000).toFixed(2)} s`);
  console.log(measures.at(-1));
  return ms;
}

/** Ready again and firing: the next fault starts from a steady state. */
async function steady(): Promise<void> {
  await waitFor("ready", async () => (await readyz()).status === 200, 30_000, 50);
  const now = Date.now();
  await waitFor("deliveries flowing", () => ledger.firstArrivalAfter(now + 1_000), 30_000, 50);
}

/** Sessions of ours inside a transaction, with how long each has been open. */
const openTransactions = () =>
  admin<{ pid: number; open_s: number }[]>`
    SELECT pid, extract(epoch FROM now() - xact_start)::float8 AS open_s FROM pg_stat_activity
     WHERE application_name = 'rune-scheduler' AND xact_start IS NOT NULL`;

describe("fires resume within a bound after faults of real servers (HA rig)", () => {
  beforeAll(
    async () => {
      if (process.getuid?.() !== 0 || !existsSync("/usr/lib/rabbitmq/bin/rabbitmq-server")) {
        throw new Error(
          "test/ha needs the HA rig's prerequisites (scripts/ha/README.md): root, postgresql-15, rabbitmq-server",
        );
      }
      await rig("down");
      await rig("up");
      const env = await rigEnv();
      await rig("seed", String(SCHEDULES));
      admin = primary();
      replica = startBinary(["run"], {
        DATABASE_URL: env.DATABASE_URL!,
        RABBITMQ_URL: env.RABBITMQ_URL!,
        RABBITMQ_QUEUE_TYPE: "quorum",
        SCHEDULER_POLL_INTERVAL: "1",
        SCHEDULER_CONNECT_TIMEOUT: "2",
        SCHEDULER_MAX_RETRIES: "0",
        SCHEDULER_HTTP_PORT: String(HTTP_PORT),
        SCHEDULER_HEALTHCHECK_INTERVAL: "2",
      });
      await replica.waitForLine(/RabbitMQ connection established/, 30_000);
      worker = consume(brokerUrls(env.RABBITMQ_URL!), QUEUE, ledger, () => {});
      await steady();
    },
    { timeout: 180_000 },
  );

  afterAll(
    async () => {
      await replica?.stop("SIGKILL").catch(() => {});
      await worker?.stop().catch(() => {});
      await admin?.end({ timeout: 1 }).catch(() => {});
      await rig("down").catch((error: Error) => console.error(error.message));
      for (const line of measures) console.log(line);
    },
    { timeout: 60_000 },
  );

  test(
    "a memory alarm: the claim given back (no transaction open past 1 s), the block named, /readyz says so, a fire within 1 s of connection.unblocked",
    async () => {
      await memoryAlarm(true);
      try {
        const line = await replica.waitForLine(
          /WARNING RabbitMQ node \S+ blocks publishing: memory alarm; not claiming until it lifts/,
          20_000,
        );
        expect(line).toContain("127.0.0.1:568");
        await waitFor(
          "/readyz naming the block",
          async () => /^RabbitMQ node \S+ blocks publishing: memory alarm$/.test((await readyz()).reason),
          5_000,
          50,
        );
        expect((await readyz()).status).toBe(503);
        // Sampled through the alarm: no claim transaction lasts (a claim takes milliseconds).
        let longest = 0;
        const until = Date.now() + FAULT_MS;
        while (Date.now() < until) {
          for (const row of await openTransactions()) longest = Math.max(longest, row.open_s);
          await Bun.sleep(100); // sampling pg_stat_activity for the alarm's length
        }
        measures.push(`[measure] memory alarm | longest claim transaction open during it ${longest.toFixed(2)} s`);
        expect(longest).toBeLessThan(1);
        await replica.waitForLine(
          /HEALTHCHECK FAILED \| DB: up \| MQ: down \| RabbitMQ node \S+ blocks publishing: memory alarm/,
          5_000,
        );
      } finally {
        await memoryAlarm(false);
      }
      const unblocked = await replica.waitForLine(/INFO RabbitMQ unblocked after [\d.]+s; claiming again/, 20_000);
      const unblockedAt = Date.parse(unblocked.slice(0, unblocked.indexOf(" ")));
      expect(await firstFireAfter("memory alarm (from connection.unblocked)", unblockedAt)).toBeLessThan(1_000);
      await steady();
    },
    FAULT_TIMEOUT_MS,
  );

  test(
    `the whole RabbitMQ cluster stopped for ${FAULT_MS / 1000} s: not connected, then firing within the bound once the queue has its quorum again`,
    async () => {
      await stopCluster();
      let quorumAt = 0;
      try {
        await waitFor("not ready", async () => (await readyz()).status === 503, 15_000, 50);
        expect((await readyz()).reason).toMatch(/RabbitMQ/);
        await Bun.sleep(FAULT_MS); // the fault's length
      } finally {
        // From two of the queue's three members on, it can elect a leader and take publishes.
        quorumAt = await startCluster();
      }
      expect(await firstFireAfter("whole RabbitMQ cluster stopped (from its quorum back)", quorumAt)).toBeLessThan(
        QUORUM_FIRE_BOUND_MS,
      );
      await steady();
    },
    FAULT_TIMEOUT_MS,
  );

  test(
    `a read-only primary (default_transaction_read_only) for ${FAULT_MS / 1000} s: not ready, then firing within the bound`,
    async () => {
      await readOnly(admin, true);
      let endedAt = 0;
      try {
        await waitFor("not ready", async () => (await readyz()).status === 503, 15_000, 50);
        expect((await readyz()).reason).toMatch(/^(not firing: PostgreSQL failed|not connected: PostgreSQL)/);
        await Bun.sleep(FAULT_MS); // the fault's length
      } finally {
        await readOnly(admin, false);
        endedAt = Date.now();
      }
      expect(await firstFireAfter("read-only primary", endedAt)).toBeLessThan(FIRST_FIRE_BOUND_MS);
      await steady();
    },
    FAULT_TIMEOUT_MS,
  );

  test(
    `a full primary (every slot taken, our backends terminated) for ${FAULT_MS / 1000} s: named as full, not ready, then firing within the bound`,
    async () => {
      const release = await fillPrimary(admin);
      let endedAt = 0;
      try {
        await waitFor("not ready", async () => (await readyz()).status === 503, 15_000, 50);
        await replica.waitForLine(/is full: no free connection slots|terminated our session/, 15_000);
        await Bun.sleep(FAULT_MS); // the fault's length
      } finally {
        await release();
        endedAt = Date.now();
      }
      expect(await firstFireAfter("full primary", endedAt)).toBeLessThan(FIRST_FIRE_BOUND_MS);
      await steady();
    },
    FAULT_TIMEOUT_MS,
  );
});
