/**
 * The whole benchmark: settings, one run of every section, and the order they run in. Ceilings
 * are measured right before the scheduler figure they bound, so both see the same machine load.
 */
import { loadavg } from "node:os";
import { type BurstResult, runBurst } from "./burst.ts";
import { publishCeiling, type Rate, smallPublishCeiling, sqlCeiling } from "./ceiling.ts";
import { runCost } from "./cost.ts";
import type { CostRun } from "./cost-report.ts";
import { serviceGuard, waitForServices } from "./env.ts";
import { type IdleResult, runIdle } from "./idle.ts";
import { type PollCostResult, runPollCost } from "./pollcost.ts";
import { type PrecisionResult, runPrecision } from "./precision.ts";
import { type PropertyCost, runPropertyCosts } from "./properties.ts";
import { runStartup, type StartupResult } from "./startup.ts";

export const SECTIONS = [
  "burst",
  "cost",
  "properties",
  "replicas",
  "precision",
  "idle",
  "startup",
  "pollcost",
] as const;
export type Section = (typeof SECTIONS)[number];

export interface Settings {
  readonly binary: string;
  readonly runs: number;
  readonly sections: readonly Section[];
  readonly burstRows: readonly number[];
  /** Burst sizes of the cost section (each with and without a worker). */
  readonly costRows: readonly number[];
  /** Messages per queue kind and property variant in the properties section. */
  readonly propertyMessages: number;
  readonly replicas: readonly number[];
  readonly replicaRows: number;
  readonly precisionRows: number;
  readonly precisionSpreadMs: number;
  readonly idleRows: number;
  readonly idleWindowMs: number;
  readonly idleSettleMs: number;
  readonly startupSamples: number;
  /** Rows already due when the start-up to the first message is timed. */
  readonly startupRows: number;
  readonly pollRows: number;
  readonly pollDue: number;
  readonly pollSamples: number;
  /** The scheduler's SCHEDULER_BATCH_SIZE default; the ceilings use the same batch. */
  readonly batch: number;
  /** The scheduler's SCHEDULER_LOOK_AHEAD default, for the poll statement. */
  readonly lookAheadMs: number;
  readonly payloadBytes: number;
  /** Body size of the small-message publish ceiling. */
  readonly smallBodyBytes: number;
  readonly leadMs: number;
}

export const DEFAULTS: Omit<Settings, "binary"> = {
  runs: 5,
  sections: SECTIONS,
  burstRows: [10_000, 100_000],
  costRows: [10_000, 100_000],
  propertyMessages: 20_000,
  replicas: [1, 2, 3],
  replicaRows: 100_000,
  precisionRows: 1_000,
  precisionSpreadMs: 30_000,
  idleRows: 100_000,
  idleWindowMs: 30_000,
  idleSettleMs: 2_000,
  startupSamples: 5,
  startupRows: 1_000,
  pollRows: 1_000_000,
  pollDue: 500,
  pollSamples: 5,
  batch: 500,
  lookAheadMs: 60_000,
  payloadBytes: 256,
  smallBodyBytes: 240,
  leadMs: 4_000,
};

/** Small enough to finish in well under a minute: proves every section still works. */
export const SMOKE: Partial<Settings> = {
  runs: 1,
  burstRows: [300],
  costRows: [300],
  propertyMessages: 300,
  replicaRows: 300,
  precisionRows: 20,
  precisionSpreadMs: 2_000,
  idleRows: 1_000,
  idleWindowMs: 2_000,
  idleSettleMs: 200,
  startupSamples: 1,
  startupRows: 100,
  pollRows: 5_000,
  pollDue: 100,
  pollSamples: 1,
  leadMs: 2_500,
};

export interface BurstRun {
  readonly rows: number;
  /** The scheduler's own messages. */
  readonly publishCeiling: Rate;
  /** Small (about 240-byte) bodies, persistent, mandatory off. */
  readonly smallCeiling: Rate;
  readonly sqlCeiling: Rate;
  readonly burst: BurstResult;
}

export interface Run {
  readonly run: number;
  readonly loadAverage: { start: number[]; end: number[] };
  /** Measurements repeated because PostgreSQL or RabbitMQ restarted under them. */
  readonly retries: { measurement: string; error: string }[];
  burst?: BurstRun[];
  cost?: CostRun[];
  properties?: PropertyCost[];
  replicas?: BurstResult[];
  precision?: PrecisionResult;
  idle?: IdleResult;
  startup?: StartupResult;
  pollCost?: PollCostResult;
}

export type Progress = (line: string) => void;

export async function runOnce(settings: Settings, index: number, progress: Progress): Promise<Run> {
  const run: Run = { run: index, loadAverage: { start: loadavg(), end: [] }, retries: [] };
  /**
   * One measurement; repeated (at most twice) when a service restarted under it, since the
   * figure would then measure the restart. Any other failure ends the benchmark.
   */
  const measure = async <T>(measurement: string, work: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      const guard = await serviceGuard().catch(async () => {
        await waitForServices(120_000);
        return serviceGuard();
      });
      let result: T | undefined;
      let failure: unknown = null;
      try {
        result = await work();
      } catch (error) {
        failure = error;
      }
      const intact = await guard.intact();
      await guard.close();
      if (intact && failure === null) return result as T;
      if (intact || attempt >= 2)
        throw failure ?? new Error(`${measurement}: a service restarted during every attempt`);
      const error = failure ? (failure as Error).message : "no error, but a service restarted";
      run.retries.push({ measurement, error });
      progress(`${measurement}: PostgreSQL or RabbitMQ restarted under it (${error}); measuring again`);
      await waitForServices(120_000);
    }
  };
  const has = (section: Section) => settings.sections.includes(section);
  const base = { binary: settings.binary, payloadBytes: settings.payloadBytes };

  if (has("burst")) {
    run.burst = [];
    for (const rows of settings.burstRows) {
      const publish = await measure(`publish ceiling ${rows}`, () =>
        publishCeiling(rows, settings.batch, settings.payloadBytes),
      );
      const small = await measure(`small-message ceiling ${rows}`, () =>
        smallPublishCeiling(rows, settings.batch, settings.smallBodyBytes),
      );
      const sql = await measure(`SQL ceiling ${rows}`, () => sqlCeiling(rows, settings.batch, settings.payloadBytes));
      const burst = await measure(`burst ${rows}`, () => runBurst({ ...base, rows, replicas: 1 }));
      progress(
        `burst ${rows}: ${fmt(burst.fromStartFiresPerSecond)} fires/s from start (${burst.fromStartSeconds.toFixed(2)} s), ` +
          `${fmt(burst.fromFirstFiresPerSecond)} from the first message (at ${burst.firstMessageMs.toFixed(0)} ms); ` +
          `ceilings: publish ${fmt(publish.perSecond)}/s, small ${fmt(small.perSecond)}/s, SQL ${fmt(sql.perSecond)}/s`,
      );
      run.burst.push({ rows, publishCeiling: publish, smallCeiling: small, sqlCeiling: sql, burst });
    }
  }
  if (has("cost")) {
    run.cost = [];
    const perUnit = (cpuSeconds: number, rate: Rate) => (cpuSeconds * 1e6) / rate.count;
    for (const rows of settings.costRows) {
      const sql = await measure(`SQL ceiling ${rows}`, () => sqlCeiling(rows, settings.batch, settings.payloadBytes));
      for (const worker of [false, true]) {
        const publish = await measure(`publish ceiling ${rows}${worker ? " with a worker" : ""}`, () =>
          publishCeiling(rows, settings.batch, settings.payloadBytes, worker),
        );
        // The same burst without and with the fire history table (docs/performance.md, "Fire history").
        for (const history of [false, true]) {
          const label = `cost ${rows}${worker ? " with a worker" : ""}${history ? ", history on" : ""}`;
          const cost = await measure(label, () => runCost({ ...base, rows, worker, history }));
          progress(
            `${label}: scheduler ${cost.schedulerUs.toFixed(1)} µs, PostgreSQL ${cost.postgresUs.toFixed(1)} µs, ` +
              `RabbitMQ ${cost.brokerUs.toFixed(1)} µs, ${fmt(cost.allocatedBytes)} B heap per fire, ${fmt(cost.firesPerSecond)} fires/s`,
          );
          run.cost.push({
            rows,
            worker,
            publisherUs: perUnit(publish.cpu!.clientSeconds, publish),
            publisherBrokerUs: perUnit(publish.cpu!.brokerSeconds, publish),
            sqlPostgresUs: perUnit(sql.cpu!.postgresSeconds, sql),
            cost,
          });
        }
      }
    }
  }
  if (has("properties")) {
    run.properties = await measure("property costs", () =>
      runPropertyCosts(settings.propertyMessages, settings.batch, settings.payloadBytes),
    );
    const sent = run.properties.filter((p) => p.variant === "as sent");
    progress(
      `properties: RabbitMQ ${sent.map((p) => `${p.kind} ${p.brokerUs.toFixed(1)} µs`).join(", ")} per message as sent`,
    );
  }
  if (has("replicas")) {
    run.replicas = [];
    for (const replicas of settings.replicas) {
      const result = await measure(`replicas ${replicas}`, () =>
        runBurst({ ...base, rows: settings.replicaRows, replicas }),
      );
      progress(
        `replicas ${replicas}: ${fmt(result.fromStartFiresPerSecond)} fires/s from start, ${fmt(result.fromFirstFiresPerSecond)} from the first message, ` +
          `${result.duplicates} duplicates, split ${result.perReplica.join("/")}`,
      );
      run.replicas.push(result);
    }
  }
  if (has("precision")) {
    run.precision = await measure("precision", () =>
      runPrecision({
        ...base,
        leadMs: settings.leadMs,
        rows: settings.precisionRows,
        spreadMs: settings.precisionSpreadMs,
      }),
    );
    const p = run.precision;
    progress(
      `precision: p50 ${p.p50Ms.toFixed(1)} ms, p99 ${p.p99Ms.toFixed(1)} ms, max ${p.maxMs.toFixed(1)} ms; ` +
        `tail ${p.tail.messages}: ${p.tail.hostStalled} in host stalls (${p.tail.hostStalls} stalls), ${p.tail.duringCollection} in GCs`,
    );
  }
  if (has("idle")) {
    run.idle = await measure("idle", () =>
      runIdle({
        binary: settings.binary,
        rows: settings.idleRows,
        windowMs: settings.idleWindowMs,
        settleMs: settings.idleSettleMs,
        startupSamples: settings.startupSamples,
        payloadBytes: settings.payloadBytes,
      }),
    );
    const i = run.idle;
    progress(
      `idle: ${i.rssMedianMB.toFixed(1)} MB, ${i.cpuPercent.toFixed(2)} % CPU; startup ${i.startupMs.map((ms) => ms.toFixed(0)).join(", ")} ms`,
    );
  }
  if (has("startup")) {
    run.startup = await measure("startup", () =>
      runStartup({
        binary: settings.binary,
        rows: settings.startupRows,
        samples: settings.startupSamples,
        payloadBytes: settings.payloadBytes,
      }),
    );
    progress(
      `startup: first message ${run.startup.firstMessageMs.map((ms) => ms.toFixed(0)).join(", ")} ms after spawn`,
    );
  }
  if (has("pollcost")) {
    run.pollCost = await measure("poll cost", () =>
      runPollCost({
        rows: settings.pollRows,
        due: settings.pollDue,
        batch: settings.batch,
        lookAheadMs: settings.lookAheadMs,
        samples: settings.pollSamples,
        payloadBytes: settings.payloadBytes,
      }),
    );
    const { withIndex: w, withoutIndex: wo } = run.pollCost;
    progress(
      `poll cost: poll ${w.poll.executionMs.toFixed(2)} ms (no index ${wo.poll.executionMs.toFixed(1)}), ` +
        `claim ${w.claim.executionMs.toFixed(2)} ms (no index ${wo.claim.executionMs.toFixed(1)})`,
    );
  }
  run.loadAverage.end = loadavg();
  return run;
}

export const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
