/**
 * Turns the runs into medians (with their spread) and checks them against the targets of
 * docs/performance.md (table.ts renders the result as the Markdown table quoted there). Every ratio
 * is taken within one run (a figure over the ceiling measured just before it), then the median
 * of those ratios is quoted.
 */

import type { BurstResult } from "./burst.ts";
import type { CeilingCpu } from "./ceiling.ts";
import { COST_TARGETS, type CostSummary, costSummaries } from "./cost-report.ts";
import type { Statement } from "./pollcost.ts";
import { type Summary, summarize } from "./stats.ts";
import { fmt, type Run } from "./suite.ts";

type IndexState = "withIndex" | "withoutIndex";

/** The targets, in one place for the check and the table. */
export const TARGETS = {
  /** × the same-message publish ceiling, fires/s from the first message. */
  burstSameFromFirst: 0.9,
  /** × the small-message publish ceiling, fires/s from process start. */
  burstSmallFromStart: 0.7,
  /** × one replica (from process start), for every replica count above 1. */
  replicasToOne: 1.0,
  precisionP99Ms: 5,
  precisionMaxMs: 30,
  /** Idle resident memory of a single-lane build on an Intel host (docs/performance.md). */
  idleRssMB: 51.7,
  idleCpuPercent: 0.5,
  readyMs: 300,
  firstMessageMs: 100,
  pollMs: 2,
  claimMs: 2,
} as const;

/** A burst's two rates and what the processes used meanwhile. */
export interface BurstSummary {
  firstMessageMs: Summary;
  fromStartSeconds: Summary;
  fromStart: Summary;
  fromFirstSeconds: Summary;
  fromFirst: Summary;
  schedulerCpu: Summary;
  brokerCpu: Summary;
  postgresCpu: Summary;
  machineBusy: Summary;
}

export interface Report {
  burst: ({
    rows: number;
    messageBytes: number;
    smallBytes: number;
    publishCeiling: Summary;
    smallCeiling: Summary;
    sqlCeiling: Summary;
    startToSame: Summary;
    startToSmall: Summary;
    firstToSame: Summary;
    firstToSmall: Summary;
    /** CPU during each ceiling (medians), when every run measured it. */
    ceilingCpu: { publish: CpuSummary; small: CpuSummary; sql: CpuSummary } | null;
  } & BurstSummary)[];
  cost: CostSummary[];
  replicas: ({
    rows: number;
    replicas: number;
    /** From process start, and from the first message, each over 1 replica in the same run. */
    startToOne: Summary;
    firstToOne: Summary;
    /** From process start over the small-message ceiling of the same size, when the burst section measured one. */
    startToSmall: Summary | null;
    duplicates: number;
    /** Fires per replica, each run's split joined by "/". */
    splits: string[];
  } & BurstSummary)[];
  precision: {
    rows: number;
    spreadSeconds: number;
    p50Ms: Summary;
    p99Ms: Summary;
    maxMs: Summary;
    duplicates: number;
    /** Over all runs: the late messages (lag ≥ p99) and how many of each candidate cause they met. */
    tail: { messages: number; hostStalled: number; duringCollection: number; afterCloseSlot: number; neither: number };
  } | null;
  idle: {
    rows: number;
    windowSeconds: number;
    rssMB: Summary;
    rssMaxMB: Summary;
    anonMB: Summary;
    cpuPercent: Summary;
  } | null;
  ready: { ms: Summary } | null;
  firstMessage: { rows: number; ms: Summary } | null;
  pollCost:
    | ({ rows: number; due: number } & Record<
        IndexState,
        Record<Statement, { executionMs: Summary; roundTripMs: Summary; plan: string }>
      >)
    | null;
  targets: { figure: string; value: string; target: string; met: boolean }[];
}

export interface CpuSummary {
  client: Summary;
  broker: Summary;
  postgres: Summary;
  machineBusy: Summary;
}

function cpuSummary(samples: readonly (CeilingCpu | undefined)[]): CpuSummary | null {
  if (samples.some((s) => s === undefined)) return null;
  const of = (pick: (c: CeilingCpu) => number) => summarize(samples.map((c) => pick(c!)));
  return {
    client: of((c) => c.clientPercent),
    broker: of((c) => c.brokerPercent),
    postgres: of((c) => c.postgresPercent),
    machineBusy: of((c) => c.machineBusyPercent),
  };
}

/**
 * A ratio with two decimals, or three when two would round it onto its goal from the other side
 * (0.998 shown as "1.00" beside a missed "≥ 1.00" reads as a contradiction).
 */
export function ratioText(value: number, goal: number): string {
  const two = value.toFixed(2);
  return two === goal.toFixed(2) && value < goal ? value.toFixed(3) : two;
}

const defined = <T>(values: (T | undefined)[]): T[] => values.filter((v): v is T => v !== undefined);
const ratio = (pairs: readonly [number, number][]) => summarize(pairs.map(([a, b]) => a / b));

function burstSummary(results: readonly BurstResult[]): BurstSummary {
  const of = (pick: (r: BurstResult) => number) => summarize(results.map(pick));
  return {
    firstMessageMs: of((r) => r.firstMessageMs),
    fromStartSeconds: of((r) => r.fromStartSeconds),
    fromStart: of((r) => r.fromStartFiresPerSecond),
    fromFirstSeconds: of((r) => r.fromFirstSeconds),
    fromFirst: of((r) => r.fromFirstFiresPerSecond),
    schedulerCpu: of((r) => r.schedulerCpuPercent),
    brokerCpu: of((r) => r.brokerCpuPercent),
    postgresCpu: of((r) => r.postgresCpuPercent),
    machineBusy: of((r) => r.machineBusyPercent),
  };
}

export function buildReport(runs: readonly Run[]): Report {
  const report: Report = {
    burst: [],
    cost: costSummaries(runs),
    replicas: [],
    precision: null,
    idle: null,
    ready: null,
    firstMessage: null,
    pollCost: null,
    targets: [],
  };
  const target = (figure: string, value: string, goal: string, met: boolean) =>
    report.targets.push({ figure, value, target: goal, met });

  for (const rows of new Set(runs.flatMap((r) => (r.burst ?? []).map((b) => b.rows)))) {
    const samples = runs.flatMap((r) => (r.burst ?? []).filter((b) => b.rows === rows));
    const entry = {
      rows,
      messageBytes: samples[0]!.publishCeiling.messageBytes ?? 0,
      smallBytes: samples[0]!.smallCeiling.messageBytes ?? 0,
      publishCeiling: summarize(samples.map((s) => s.publishCeiling.perSecond)),
      smallCeiling: summarize(samples.map((s) => s.smallCeiling.perSecond)),
      sqlCeiling: summarize(samples.map((s) => s.sqlCeiling.perSecond)),
      startToSame: ratio(samples.map((s) => [s.burst.fromStartFiresPerSecond, s.publishCeiling.perSecond])),
      startToSmall: ratio(samples.map((s) => [s.burst.fromStartFiresPerSecond, s.smallCeiling.perSecond])),
      firstToSame: ratio(samples.map((s) => [s.burst.fromFirstFiresPerSecond, s.publishCeiling.perSecond])),
      firstToSmall: ratio(samples.map((s) => [s.burst.fromFirstFiresPerSecond, s.smallCeiling.perSecond])),
      ceilingCpu: ((publish, small, sql) => (publish && small && sql ? { publish, small, sql } : null))(
        cpuSummary(samples.map((s) => s.publishCeiling.cpu)),
        cpuSummary(samples.map((s) => s.smallCeiling.cpu)),
        cpuSummary(samples.map((s) => s.sqlCeiling.cpu)),
      ),
      ...burstSummary(samples.map((s) => s.burst)),
    };
    report.burst.push(entry);
    const same = entry.firstToSame.median;
    const small = entry.startToSmall.median;
    target(
      `burst ${fmt(rows)}, from the first message`,
      `${ratioText(same, TARGETS.burstSameFromFirst)} × same-message ceiling`,
      `≥ ${TARGETS.burstSameFromFirst.toFixed(2)} ×`,
      same >= TARGETS.burstSameFromFirst,
    );
    target(
      `burst ${fmt(rows)}, from process start`,
      `${ratioText(small, TARGETS.burstSmallFromStart)} × small-message ceiling`,
      `≥ ${TARGETS.burstSmallFromStart.toFixed(2)} ×`,
      small >= TARGETS.burstSmallFromStart,
    );
  }

  const replicaRuns = runs.filter((r) => r.replicas);
  for (const replicas of new Set(replicaRuns.flatMap((r) => r.replicas!.map((x) => x.replicas)))) {
    const pairs = replicaRuns.flatMap((r) => {
      const current = r.replicas!.find((x) => x.replicas === replicas);
      if (!current) return [];
      return [
        {
          one: r.replicas!.find((x) => x.replicas === 1),
          current,
          small: r.burst?.find((b) => b.rows === current.rows)?.smallCeiling.perSecond,
        },
      ];
    });
    const withOne = pairs.filter((p) => p.one !== undefined);
    const withSmall = pairs.filter((p) => p.small !== undefined);
    const entry = {
      rows: pairs[0]!.current.rows,
      replicas,
      startToOne: ratio(withOne.map((p) => [p.current.fromStartFiresPerSecond, p.one!.fromStartFiresPerSecond])),
      firstToOne: ratio(withOne.map((p) => [p.current.fromFirstFiresPerSecond, p.one!.fromFirstFiresPerSecond])),
      startToSmall:
        withSmall.length === 0 ? null : ratio(withSmall.map((p) => [p.current.fromStartFiresPerSecond, p.small!])),
      duplicates: pairs.reduce((sum, p) => sum + p.current.duplicates, 0),
      splits: pairs.map((p) => p.current.perReplica.join("/")),
      ...burstSummary(pairs.map((p) => p.current)),
    };
    report.replicas.push(entry);
    if (replicas > 1) {
      const r = entry.startToOne.median;
      target(
        `replicas ${replicas} vs 1, from process start`,
        `${ratioText(r, TARGETS.replicasToOne)} ×`,
        `≥ ${TARGETS.replicasToOne.toFixed(2)} ×`,
        r >= TARGETS.replicasToOne,
      );
    }
  }
  if (report.replicas.length > 0) {
    const duplicates = report.replicas.reduce((sum, r) => sum + r.duplicates, 0);
    target("replicas: duplicates (all runs)", String(duplicates), "0", duplicates === 0);
  }

  const precision = defined(runs.map((r) => r.precision));
  if (precision.length > 0) {
    report.precision = {
      rows: precision[0]!.rows,
      spreadSeconds: precision[0]!.spreadSeconds,
      p50Ms: summarize(precision.map((p) => p.p50Ms)),
      p99Ms: summarize(precision.map((p) => p.p99Ms)),
      maxMs: summarize(precision.map((p) => p.maxMs)),
      duplicates: precision.reduce((sum, p) => sum + p.duplicates, 0),
      tail: {
        messages: precision.reduce((sum, p) => sum + p.tail.messages, 0),
        hostStalled: precision.reduce((sum, p) => sum + p.tail.hostStalled, 0),
        duringCollection: precision.reduce((sum, p) => sum + p.tail.duringCollection, 0),
        afterCloseSlot: precision.reduce((sum, p) => sum + p.tail.afterCloseSlot, 0),
        neither: precision.reduce((sum, p) => sum + p.tail.neither, 0),
      },
    };
    const { p99Ms, maxMs } = report.precision;
    target(
      "precision p99",
      `${p99Ms.median.toFixed(1)} ms`,
      `≤ ${TARGETS.precisionP99Ms} ms`,
      p99Ms.median <= TARGETS.precisionP99Ms,
    );
    target(
      "precision max",
      `${maxMs.median.toFixed(1)} ms`,
      `≤ ${TARGETS.precisionMaxMs} ms`,
      maxMs.median <= TARGETS.precisionMaxMs,
    );
  }

  const idle = defined(runs.map((r) => r.idle));
  if (idle.length > 0) {
    report.idle = {
      rows: idle[0]!.rows,
      windowSeconds: Math.round(idle[0]!.windowSeconds),
      rssMB: summarize(idle.map((i) => i.rssMedianMB)),
      rssMaxMB: summarize(idle.map((i) => i.rssMaxMB)),
      anonMB: summarize(idle.map((i) => i.anonMedianMB)),
      cpuPercent: summarize(idle.map((i) => i.cpuPercent)),
    };
    report.ready = { ms: summarize(idle.flatMap((i) => i.startupMs)) };
    const { rssMB, cpuPercent } = report.idle;
    target(
      "idle resident memory",
      `${rssMB.median.toFixed(1)} MB`,
      `≤ ${TARGETS.idleRssMB} MB`,
      rssMB.median <= TARGETS.idleRssMB,
    );
    target(
      "idle CPU",
      `${cpuPercent.median.toFixed(2)} %`,
      `≤ ${TARGETS.idleCpuPercent} %`,
      cpuPercent.median <= TARGETS.idleCpuPercent,
    );
    const ready = report.ready.ms.median;
    target("startup to /readyz", `${ready.toFixed(0)} ms`, `≤ ${TARGETS.readyMs} ms`, ready <= TARGETS.readyMs);
  }

  const startup = defined(runs.map((r) => r.startup));
  if (startup.length > 0) {
    report.firstMessage = { rows: startup[0]!.rows, ms: summarize(startup.flatMap((s) => s.firstMessageMs)) };
    const ms = report.firstMessage.ms.median;
    target(
      "startup to the first message",
      `${ms.toFixed(0)} ms`,
      `≤ ${TARGETS.firstMessageMs} ms`,
      ms <= TARGETS.firstMessageMs,
    );
  }

  const poll = defined(runs.map((r) => r.pollCost));
  if (poll.length > 0) {
    const per = (state: IndexState) =>
      Object.fromEntries(
        (["poll", "claim", "claimOne", "record"] as const).map((statement) => [
          statement,
          {
            executionMs: summarize(poll.map((p) => p[state][statement].executionMs)),
            roundTripMs: summarize(poll.map((p) => p[state][statement].roundTripMs)),
            plan: poll[poll.length - 1]![state][statement].plan,
          },
        ]),
      ) as Record<Statement, { executionMs: Summary; roundTripMs: Summary; plan: string }>;
    report.pollCost = {
      rows: poll[0]!.rows,
      due: poll[0]!.due,
      withIndex: per("withIndex"),
      withoutIndex: per("withoutIndex"),
    };
    for (const statement of ["poll", "claim"] as const) {
      const ms = report.pollCost.withIndex[statement].executionMs.median;
      const goal = statement === "poll" ? TARGETS.pollMs : TARGETS.claimMs;
      target(`${statement} at ${fmt(poll[0]!.rows)} rows, index`, `${ms.toFixed(2)} ms`, `≤ ${goal} ms`, ms <= goal);
    }
  }
  for (const c of report.cost) {
    const what = `${fmt(c.rows)}, ${c.worker ? "worker consuming" : "no consumer"}`;
    if (c.history) {
      // The history's own budget: a share of PostgreSQL's CPU per fire without it.
      const off = report.cost.find((o) => !o.history && o.rows === c.rows && o.worker === c.worker);
      if (!off) continue;
      const ratio = c.postgresUs.median / off.postgresUs.median;
      const most = COST_TARGETS.historyPostgresRatio;
      target(
        `history on: PostgreSQL CPU per fire vs off, ${what}`,
        `${ratio.toFixed(2)} ×`,
        `≤ ${most} ×`,
        ratio <= most,
      );
      continue;
    }
    const { schedulerUs: s, postgresUs: p } = COST_TARGETS;
    const sched = c.schedulerUs.median;
    const pg = c.postgresUs.median;
    target(`scheduler CPU per fire, ${what}`, `${sched.toFixed(1)} µs`, `≤ ${s} µs`, sched <= s);
    target(`PostgreSQL CPU per fire, ${what}`, `${pg.toFixed(1)} µs`, `≤ ${p} µs`, pg <= p);
  }
  return report;
}
