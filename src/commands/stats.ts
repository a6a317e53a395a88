import { defineCommand } from "citty";
import { EXIT } from "../cli/exit.ts";
import type { Config } from "../config/config.ts";
import { explainDatabaseError } from "../observe/diagnose.ts";
import { openDatabase } from "../parts.ts";
import { type ScheduleHealth, scheduleHealth } from "../postgres/stats-queries.ts";
import { duration } from "../units.ts";
import { httpGet, localBaseUrl, type ProbeTrust, parseUrlArg, probeFailure, urlArg } from "./http-probe.ts";
import { connectArgs, dbArgs, flagOf, httpArgs, jsonArg, logArgs, printReport, withConfig } from "./shared.ts";

/** A running instance may be busy; `stats` must not hang on it. */
const LIVE_TIMEOUT_MS = 1_000;

type LiveCounters =
  | { url: string; answered: true; stats: Record<string, unknown> }
  | { url: string | null; answered: false; reason: string };

interface StatsReport {
  ok: boolean;
  where: string;
  error?: string;
  overdueAfterSeconds: number;
  databaseTime?: string;
  schedules?: ScheduleHealth;
  live: LiveCounters;
}

/** Asks a running instance for its counters; absent is a normal answer, never an error. */
async function liveCounters(base: string | null, why: string, trust?: ProbeTrust): Promise<LiveCounters> {
  if (base === null) return { url: null, answered: false, reason: why };
  try {
    const answer = await httpGet(`${base}/stats`, LIVE_TIMEOUT_MS, trust);
    if (answer.status !== 200) return { url: base, answered: false, reason: `/stats answered ${answer.status}` };
    return { url: base, answered: true, stats: JSON.parse(answer.body) as Record<string, unknown> };
  } catch (error) {
    const reason = error instanceof SyntaxError ? "its /stats did not return JSON" : probeFailure(error);
    return { url: base, answered: false, reason };
  }
}

/** Reads the database (and a running instance, at the same time). Never throws. */
async function collectStats(config: Config, base: string | null, trust?: ProbeTrust): Promise<StatsReport> {
  const live = liveCounters(base, "SCHEDULER_HTTP_PORT=0 and no --url: not asking a running instance", trust);
  const sql = openDatabase(config, { max: 1, applicationName: "rune-scheduler stats" });
  let schedules: ScheduleHealth | undefined;
  let error: string | undefined;
  try {
    schedules = await scheduleHealth(sql, config.pollIntervalMs);
  } catch (failure) {
    error = explainDatabaseError(failure, config.db, config.connectTimeoutMs);
    // Undefined table or column: the schema is not what the engine expects.
    if (["42P01", "42703"].includes(String((failure as { code?: unknown }).code)))
      error += "; run `rune-scheduler check-db` for what is missing";
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
  return {
    ok: schedules !== undefined,
    where: config.db.where,
    ...(error !== undefined ? { error } : {}),
    ...(schedules ? { databaseTime: new Date(schedules.dbNowMs).toISOString() } : {}),
    overdueAfterSeconds: config.pollIntervalMs / 1000,
    ...(schedules ? { schedules } : {}),
    live: await live,
  };
}

const iso = (ms: number | null) => (ms === null ? "never" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z"));
const clip = (text: string | null, width: number) => {
  const line = (text ?? "").replace(/\s+/g, " ");
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
};

/** The line under a bounded list that says what it left out; nothing when it left nothing. */
function andMore(shown: number, total: number, what: string): string[] {
  return total > shown ? [`  and ${total - shown} more (${what}: ${total})`] : [];
}

/** Left-aligned columns, two spaces apart, under a header row. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    "  " +
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function formatLive(live: LiveCounters): string[] {
  if (!live.answered) {
    return [
      live.url === null
        ? `Live counters: ${live.reason}`
        : `Live counters: no running instance answered at ${live.url} (${live.reason})`,
    ];
  }
  const s = live.stats as Record<string, number | boolean | null>;
  const ms = (key: string) => (typeof s[key] === "number" ? (s[key] as number) : null);
  return [
    `Live counters from ${live.url}`,
    `  database ${s.dbUp ? "up" : "DOWN"}, broker ${s.mqUp ? "up" : "DOWN"}; started ${iso(ms("startedMs"))}`,
    `  checks ${s.checks}  executions ${s.executions}  failures ${s.failures}  skipped ${s.skipped}  missed ${s.missed}  unknown ${s.unknown}  paused ${s.paused}`,
    `  last check ${iso(ms("lastCheckMs"))}  last execution ${iso(ms("lastExecutionMs"))}  due backlog ${s.dueBacklog}  oldest overdue ${duration(Number(s.oldestOverdueSeconds ?? 0))}`,
  ];
}

function formatStats(report: StatsReport): string {
  if (!report.ok || !report.schedules) return `FAILED ${report.error ?? "no data"}`;
  const h = report.schedules;
  const c = h.counts;
  const late = h.oldestDue
    ? `  (oldest: #${h.oldestDue.id}, due ${iso(h.oldestDue.slotMs)}, ${duration(h.oldestDue.lateSeconds)} late)`
    : "";
  const invalidTotal = Object.values(c.invalid).reduce((sum, n) => sum + n, 0) + h.cron.invalid.length;
  const lines = [
    `Schedules in ${report.where} at ${iso(h.dbNowMs)} (database time)`,
    ...table(
      ["", "count"],
      [
        ["total", String(c.total)],
        ["active", String(c.active)],
        ["inactive", String(c.inactive)],
        ["paused by operator", String(c.pausedByOperator)],
        ["paused by scheduler", String(c.paused)],
        ["due now", String(c.dueNow)],
        [`overdue > ${duration(report.overdueAfterSeconds)}`, `${c.overdue}${late}`],
        ["failing", String(c.failing)],
        ["workflow missing", String(c.workflowMissing)],
        ["invalid (active)", String(invalidTotal)],
      ],
    ).slice(1),
    ...Object.entries(c.invalid)
      .filter(([, count]) => count > 0)
      .map(([reason, count]) => `    ${reason}: ${count}`),
    ...(h.cron.invalid.length > 0 ? [`    cron expression or time zone invalid: ${h.cron.invalid.length}`] : []),
  ];
  if (h.invalid.length > 0) {
    lines.push("", "Invalid (active, not fired until fixed)");
    lines.push(
      ...table(
        ["id", "workflow", "schedule", "reason"],
        h.invalid.map((r) => [
          String(r.id),
          clip(r.workflowName ?? `(missing ${r.workflowId ?? "NULL"})`, 24),
          clip(r.schedule, 40),
          clip(r.reason, 100),
        ]),
      ),
      ...andMore(h.invalid.length, invalidTotal, "invalid"),
    );
  }
  if (h.paused.length > 0) {
    lines.push("", "Paused or inactive");
    lines.push(
      ...table(
        ["id", "workflow", "state", "since", "reason"],
        h.paused.map((r) => [
          String(r.id),
          clip(r.workflowName ?? `(missing ${r.workflowId ?? "NULL"})`, 24),
          r.by === null ? "inactive" : r.by === "ended" ? "ended" : `paused by ${r.by}`,
          r.sinceMs === null ? "unknown" : iso(r.sinceMs),
          clip(r.reason, 80),
        ]),
      ),
      ...andMore(h.paused.length, c.inactive, "paused or inactive"),
    );
  }
  if (h.workflowMissing.length > 0) {
    const ids = h.workflowMissing.map((r) => `#${r.id}→${r.workflowId ?? "NULL"}${r.isActive ? "" : " (inactive)"}`);
    lines.push("", `Workflow missing (schedule→workflow_id): ${ids.join(", ")}`);
  }
  lines.push("", h.failing.length > 0 ? "Failing longest" : "Failing: none");
  // The history's column only where the history table has something to say.
  const fromHistory = h.failing.some((r) => r.lastFailure !== undefined);
  if (h.failing.length > 0) {
    lines.push(
      ...table(
        [
          "id",
          "workflow",
          "failures",
          "schedule",
          "state",
          "last run",
          "last error",
          ...(fromHistory ? ["last failure (slot on replica)"] : []),
        ],
        h.failing.map((r) => [
          String(r.id),
          clip(r.workflowName ?? `(missing ${r.workflowId})`, 24),
          String(r.failureCount),
          clip(r.schedule, 40),
          r.isActive ? "active" : "inactive",
          iso(r.lastRunMs),
          clip(r.lastError, 60),
          ...(fromHistory ? [r.lastFailure ? `${r.lastFailure.slot} on ${r.lastFailure.replica}` : ""] : []),
        ]),
      ),
    );
  }
  lines.push("", h.upcoming.length > 0 ? "Next up" : "Next up: nothing scheduled");
  if (h.upcoming.length > 0) {
    lines.push(
      ...table(
        ["id", "workflow", "next run", "in", "schedule"],
        h.upcoming.map((r) => [
          String(r.id),
          clip(r.workflowName, 24),
          iso(r.slotMs),
          duration((r.slotMs - h.dbNowMs) / 1000),
          clip(r.schedule, 40),
        ]),
      ),
    );
  }
  lines.push("", ...formatLive(report.live));
  return lines.join("\n");
}

export default defineCommand({
  meta: {
    name: "stats",
    description: "Schedule health from the database, with live counters from a running instance when it answers",
  },
  // The database, the overdue threshold (one poll interval) and where a running instance answers.
  args: {
    ...jsonArg,
    ...urlArg,
    ...dbArgs,
    ...flagOf("SCHEDULER_POLL_INTERVAL"),
    ...httpArgs,
    ...connectArgs,
    ...logArgs,
  },
  async run({ args }) {
    process.exitCode = await withConfig(args, async (config) => {
      const scheme = config.httpTls ? "https" : "http";
      let base: string | null = config.httpPort === 0 ? null : localBaseUrl(config.httpHost, config.httpPort, scheme);
      let trust: ProbeTrust = { ca: config.httpTlsCa, local: true, pin: config.httpTls?.cert ?? null };
      if (typeof args.url === "string" && args.url !== "") {
        const target = parseUrlArg(args.url);
        if ("error" in target) {
          process.stderr.write(`rune-scheduler: configuration error: ${target.error}\n`);
          return EXIT.badConfig;
        }
        base = target.base;
        trust = { ca: config.httpTlsCa, local: false };
      }
      return printReport(await collectStats(config, base, trust), args.json, formatStats, config.secrets);
    });
  },
});
