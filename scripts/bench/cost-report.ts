/**
 * The cost section's summary and table: CPU per fire of each process and heap bytes per fire,
 * each beside what the same work costs without the scheduler in the same run (a bare confirm
 * publisher of the same messages; a bare SQL claim-and-advance loop).
 */
import type { CostResult } from "./cost.ts";
import { PROPERTY_VARIANTS, QUEUE_KINDS, type QueueKind } from "./properties.ts";
import { type Summary, summarize } from "./stats.ts";
import { fmt, type Run } from "./suite.ts";

export const COST_TARGETS = { schedulerUs: 15, postgresUs: 20, historyPostgresRatio: 1.33 } as const;

export interface CostSummary {
  rows: number;
  worker: boolean;
  history: boolean;
  firesPerSecond: Summary;
  schedulerUs: Summary;
  postgresUs: Summary;
  brokerUs: Summary;
  allocatedBytes: Summary;
  maxPauseMs: Summary;
  /**
   * The bare publisher's own CPU per message, and RabbitMQ's meanwhile (same worker setting). The
   * worker runs in the publisher's process, so with a worker this counts both.
   */
  publisherUs: Summary;
  publisherBrokerUs: Summary;
  /** PostgreSQL's CPU per row under the bare SQL loop. */
  sqlPostgresUs: Summary;
  /** Within-run ratios, each over its ceiling. */
  schedulerToPublisher: Summary;
  postgresToSql: Summary;
  brokerToPublisher: Summary;
}

export interface CostRun {
  readonly rows: number;
  readonly worker: boolean;
  /** µs per message or row, from the ceilings measured just before. */
  readonly publisherUs: number;
  readonly publisherBrokerUs: number;
  readonly sqlPostgresUs: number;
  readonly cost: CostResult;
}

export function costSummaries(runs: readonly Run[]): CostSummary[] {
  const all = runs.flatMap((r) => r.cost ?? []);
  // Runs of results from before the history variant have no `history`: off.
  const keyOf = (c: CostRun) => `${c.rows}/${c.worker}/${c.cost.history === true}`;
  const keys = [...new Set(all.map(keyOf))];
  return keys.map((key) => {
    const samples = all.filter((c) => keyOf(c) === key);
    const of = (pick: (c: CostRun) => number) => summarize(samples.map(pick));
    return {
      rows: samples[0]!.rows,
      worker: samples[0]!.worker,
      history: samples[0]!.cost.history === true,
      firesPerSecond: of((c) => c.cost.firesPerSecond),
      schedulerUs: of((c) => c.cost.schedulerUs),
      postgresUs: of((c) => c.cost.postgresUs),
      brokerUs: of((c) => c.cost.brokerUs),
      allocatedBytes: of((c) => c.cost.allocatedBytes),
      maxPauseMs: of((c) => c.cost.maxPauseMs),
      publisherUs: of((c) => c.publisherUs),
      publisherBrokerUs: of((c) => c.publisherBrokerUs),
      sqlPostgresUs: of((c) => c.sqlPostgresUs),
      schedulerToPublisher: of((c) => c.cost.schedulerUs / c.publisherUs),
      postgresToSql: of((c) => c.cost.postgresUs / c.sqlPostgresUs),
      brokerToPublisher: of((c) => c.cost.brokerUs / c.publisherBrokerUs),
    };
  });
}

const range = (s: Summary, digits = 0) =>
  s.samples.length < 2 ? "1 run" : `${s.min.toFixed(digits)}–${s.max.toFixed(digits)}`;
const us = (s: Summary) => `${s.median.toFixed(1)} µs`;

export function renderCostTable(costs: readonly CostSummary[]): string {
  if (costs.length === 0) return "";
  const lines = [
    "| Burst | Fires/s | Scheduler CPU / fire (× bare publisher) | PostgreSQL CPU / fire (× SQL loop) | RabbitMQ CPU / fire (× under bare publisher) | Heap allocated / fire | Longest GC pause |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const c of costs) {
    lines.push(
      `| ${fmt(c.rows)}, ${c.worker ? "worker consuming" : "no consumer"}${c.history ? ", **history on**" : ""} | ${fmt(c.firesPerSecond.median)} | ` +
        `**${us(c.schedulerUs)}** (${range(c.schedulerUs, 1)}; ${c.schedulerToPublisher.median.toFixed(2)} × ${us(c.publisherUs)}${c.worker ? " of publisher and worker together" : ""}) | ` +
        `**${us(c.postgresUs)}** (${range(c.postgresUs, 1)}; ${c.postgresToSql.median.toFixed(2)} × ${us(c.sqlPostgresUs)}) | ` +
        `${us(c.brokerUs)} (${range(c.brokerUs, 1)}; ${c.brokerToPublisher.median.toFixed(2)} × ${us(c.publisherBrokerUs)}) | ` +
        `${fmt(c.allocatedBytes.median)} B (${range(c.allocatedBytes)}) | ${c.maxPauseMs.median.toFixed(1)} ms (${range(c.maxPauseMs, 1)}) |`,
    );
  }
  return lines.join("\n");
}

/**
 * RabbitMQ's CPU per message by queue kind and property variant: medians over the runs, and the
 * difference each variant makes against the message as sent (negative: what the property costs).
 */
export function renderPropertyTable(runs: readonly Run[]): string {
  const all = runs.flatMap((r) => r.properties ?? []);
  if (all.length === 0) return "";
  const kinds = Object.keys(QUEUE_KINDS) as QueueKind[];
  const median = (kind: QueueKind, variant: string) =>
    summarize(all.filter((p) => p.kind === kind && p.variant === variant).map((p) => p.brokerUs));
  const lines = [
    `| RabbitMQ CPU per message (median of ${runs.length}), worker consuming | ${kinds.join(" | ")} |`,
    `|---|${kinds.map(() => "---").join("|")}|`,
  ];
  for (const variant of PROPERTY_VARIANTS) {
    const cells = kinds.map((kind) => {
      const s = median(kind, variant);
      if (variant === "as sent") return `**${s.median.toFixed(1)} µs** (${range(s, 1)})`;
      const delta = s.median - median(kind, "as sent").median;
      return `${s.median.toFixed(1)} µs (${delta >= 0 ? "+" : ""}${delta.toFixed(1)})`;
    });
    lines.push(`| ${variant} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
