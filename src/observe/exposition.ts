/**
 * Prometheus text exposition (format 0.0.4) of a {@link Metrics} snapshot. Written by hand: it
 * is a few dozen lines, and prom-client would add a global registry and default collectors we
 * would then have to keep out of the compiled binary's start-up path.
 */
import { FIRE_COUNTERS, type FireCounter } from "../engine/fire.ts";
import { certificateExpiries, type TlsEntry } from "../tls/registry.ts";
import type { TlsState } from "../tls/state.ts";
import { LAG_BUCKETS, type Metrics } from "./metrics.ts";

export interface ProcessStats {
  residentBytes: number;
  cpuSecondsTotal: number;
  startTimeSeconds: number;
}

/** `labels` is whatever follows the family name: `{le="1"}`, or `_bucket{le="1"}` in a histogram. */
type Sample = [labels: string, value: number];

function family(name: string, type: "counter" | "gauge" | "histogram", help: string, samples: Sample[]): string {
  const full = `rune_scheduler_${name}`;
  // In HELP text a backslash and a line feed must be escaped; nothing else may be.
  const escapedHelp = help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
  const lines = [`# HELP ${full} ${escapedHelp}`, `# TYPE ${full} ${type}`];
  for (const [labels, value] of samples) lines.push(`${full}${labels} ${formatNumber(value)}`);
  return lines.join("\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

const single = (value: number): Sample[] => [["", value]];

/** A label value: backslash, double quote and line feed escaped, as the text format requires. */
const labelValue = (text: string) => text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");

/**
 * Seconds until each certificate of each TLS connection expires (negative once expired): the
 * server's of every host or node, and ours when we present one. Absent without TLS.
 */
function certificateFamily(tls: readonly TlsEntry[], nowMs: number): string[] {
  const samples = certificateExpiries(tls, nowMs).map(
    ({ engine, host, certificate, seconds }): Sample => [
      `{engine="${engine}",host="${labelValue(host)}",certificate="${certificate}"}`,
      seconds,
    ],
  );
  if (samples.length === 0) return [];
  return [
    family(
      "tls_certificate_expiry_seconds",
      "gauge",
      "Seconds until a TLS certificate expires: each server's, and the client certificate we present (as of the last connection to that host).",
      samples,
    ),
  ];
}

export function renderMetrics(
  metrics: Metrics,
  process: ProcessStats,
  tls: readonly TlsEntry[] = [],
  nowMs: number = Date.now(),
): string {
  const seconds = (ms: number | null) => (ms === null ? 0 : ms / 1000);
  const histogram: Sample[] = LAG_BUCKETS.map(
    (bound, i): Sample => [`_bucket{le="${bound}"}`, metrics.lag.buckets[i]!],
  );
  histogram.push([`_bucket{le="+Inf"}`, metrics.lag.count], ["_sum", metrics.lag.sum], ["_count", metrics.lag.count]);
  return `${[
    family("checks_total", "counter", "Polls of the schedule table.", single(metrics.checks)),
    ...Object.entries(FIRE_COUNTERS).map(([counter, { metric, help }]) =>
      family(metric, "counter", help, single(metrics[counter as FireCounter])),
    ),
    family("fire_lag_seconds", "histogram", "Delay from a slot to the broker's confirm of its message.", histogram),
    family(
      "last_check_timestamp_seconds",
      "gauge",
      "Database time of the last poll.",
      single(seconds(metrics.lastCheckMs)),
    ),
    family(
      "last_execution_timestamp_seconds",
      "gauge",
      "Time of the last fire.",
      single(seconds(metrics.lastExecutionMs)),
    ),
    family("database_up", "gauge", "1 while PostgreSQL is reachable.", single(metrics.dbUp ? 1 : 0)),
    family("broker_up", "gauge", "1 while RabbitMQ is connected.", single(metrics.mqUp ? 1 : 0)),
    family("due_backlog", "gauge", "Valid active schedules due now (at the last poll).", single(metrics.dueBacklog)),
    family(
      "oldest_overdue_seconds",
      "gauge",
      "Age of the oldest due slot not yet fired (at the last poll).",
      single(metrics.oldestOverdueSeconds),
    ),
    family(
      "paused_schedules",
      "gauge",
      "Schedules deactivated by rune-scheduler after repeated failures (database count, refreshed every minute or poll).",
      single(metrics.pausedNow),
    ),
    family(
      "invalid_schedules",
      "gauge",
      "Active schedules that cannot fire (bad interval, no next_run_at, workflow missing).",
      single(metrics.invalidRows),
    ),
    family(
      "console_auth_failures_total",
      "counter",
      "Console API requests refused for their token (reason: missing, wrong, limited = the address was over its limit).",
      Object.entries(metrics.consoleAuthFailures).map(([reason, n]): Sample => [`{reason="${reason}"}`, n]),
    ),
    family("process_resident_memory_bytes", "gauge", "Resident memory of this process.", single(process.residentBytes)),
    family("process_cpu_seconds_total", "counter", "CPU time used by this process.", single(process.cpuSecondsTotal)),
    family("process_start_time_seconds", "gauge", "Start time of this process.", single(process.startTimeSeconds)),
    ...certificateFamily(tls, nowMs),
  ].join("\n")}\n`;
}

export function currentProcessStats(startedMs: number): ProcessStats {
  const usage = process.cpuUsage();
  return {
    residentBytes: process.memoryUsage.rss(),
    cpuSecondsTotal: (usage.user + usage.system) / 1e6,
    startTimeSeconds: Math.floor(startedMs / 1000),
  };
}

/** What `/stats` is made from: the live counters plus the measured clock offset. */
export type StatsSource = Metrics & {
  readonly clockOffsetMs: number;
  /** The TLS of each connection target (src/tls/state.ts), both engines. */
  readonly tls?: readonly ({ engine: string; host: string } & TlsState)[];
};

/** One cumulative fire-lag bucket of `/stats`: fires confirmed within `leMs` of their slot. */
interface LagBucket {
  readonly leMs: number;
  readonly count: number;
}

/**
 * The `/stats` JSON: every time in whole milliseconds (a `…Ms` field is never fractional, so a
 * reader can treat it as an integer), and the fire-lag histogram with each bucket's bound beside
 * its count. Buckets are cumulative, as in `/metrics`; `lag.count` counts every fire.
 */
export function statsDocument(stats: StatsSource): Record<string, unknown> {
  const document: Record<string, unknown> = { ...stats };
  // Any time field a future counter adds is kept whole as well.
  for (const [key, value] of Object.entries(document)) {
    if (key.endsWith("Ms") && typeof value === "number" && Number.isFinite(value)) document[key] = Math.round(value);
  }
  const oldestOverdueMs = Math.round(stats.oldestOverdueSeconds * 1000);
  document.oldestOverdueMs = oldestOverdueMs;
  // Kept beside oldestOverdueMs for `stats` clients that read it; whole milliseconds too.
  document.oldestOverdueSeconds = oldestOverdueMs / 1000;
  const buckets: LagBucket[] = LAG_BUCKETS.map((bound, i) => ({
    leMs: Math.round(bound * 1000),
    count: stats.lag.buckets[i] ?? 0,
  }));
  document.lag = { buckets, count: stats.lag.count, sumMs: Math.round(stats.lag.sum * 1000) };
  return document;
}
