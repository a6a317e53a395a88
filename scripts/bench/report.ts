/**
 * Turns the runs into medians (with their spread), checks them against the targets of issue #7,
 * and renders the Markdown table the README quotes.
 */
import { summarize, type Summary } from "./stats.ts";
import { fmt, type Run } from "./suite.ts";
import type { Statement } from "./pollcost.ts";

type IndexState = "withIndex" | "withoutIndex";

export interface Report {
  burst: {
    rows: number;
    messageBytes: number;
    seconds: Summary;
    firesPerSecond: Summary;
    publishCeiling: Summary;
    sqlCeiling: Summary;
    ratioToPublish: Summary;
  }[];
  replicas: {
    rows: number;
    replicas: number;
    firesPerSecond: Summary;
    ratioToOne: Summary;
    /** Against the publish ceiling of the same size in the same run, when the burst section measured one. */
    ratioToPublish: Summary | null;
    duplicates: number;
  }[];
  precision: { rows: number; spreadSeconds: number; p50Ms: Summary; p99Ms: Summary; maxMs: Summary; duplicates: number } | null;
  idle: { rows: number; windowSeconds: number; rssMB: Summary; rssMaxMB: Summary; anonMB: Summary; cpuPercent: Summary } | null;
  startup: { ms: Summary } | null;
  pollCost: ({ rows: number; due: number } & Record<IndexState, Record<Statement, { executionMs: Summary; roundTripMs: Summary; plan: string }>>) | null;
  targets: { figure: string; value: string; target: string; met: boolean }[];
}

const defined = <T>(values: (T | undefined)[]): T[] => values.filter((v): v is T => v !== undefined);

export function buildReport(runs: readonly Run[]): Report {
  const report: Report = { burst: [], replicas: [], precision: null, idle: null, startup: null, pollCost: null, targets: [] };
  const target = (figure: string, value: string, goal: string, met: boolean) => report.targets.push({ figure, value, target: goal, met });

  for (const rows of new Set(runs.flatMap((r) => (r.burst ?? []).map((b) => b.rows)))) {
    const samples = runs.flatMap((r) => (r.burst ?? []).filter((b) => b.rows === rows));
    const entry = {
      rows,
      messageBytes: samples[0]!.publishCeiling.messageBytes ?? 0,
      seconds: summarize(samples.map((s) => s.burst.seconds)),
      firesPerSecond: summarize(samples.map((s) => s.burst.firesPerSecond)),
      publishCeiling: summarize(samples.map((s) => s.publishCeiling.perSecond)),
      sqlCeiling: summarize(samples.map((s) => s.sqlCeiling.perSecond)),
      ratioToPublish: summarize(samples.map((s) => s.burst.firesPerSecond / s.publishCeiling.perSecond)),
    };
    report.burst.push(entry);
    target(`burst ${fmt(rows)}`, `${entry.ratioToPublish.median.toFixed(2)} × publish ceiling`, "≥ 0.80 ×", entry.ratioToPublish.median >= 0.8);
  }

  const replicaRuns = runs.filter((r) => r.replicas);
  if (replicaRuns.length > 0) {
    const counts = [...new Set(replicaRuns.flatMap((r) => r.replicas!.map((x) => x.replicas)))];
    for (const replicas of counts) {
      const pairs = replicaRuns.map((r) => {
        const current = r.replicas!.find((x) => x.replicas === replicas)!;
        const ceiling = r.burst?.find((b) => b.rows === current.rows)?.publishCeiling.perSecond;
        return { one: r.replicas!.find((x) => x.replicas === 1), this: current, ceiling };
      });
      const withCeiling = pairs.filter((p) => p.ceiling !== undefined);
      report.replicas.push({
        rows: pairs[0]!.this.rows,
        replicas,
        firesPerSecond: summarize(pairs.map((p) => p.this.firesPerSecond)),
        ratioToOne: summarize(pairs.filter((p) => p.one).map((p) => p.this.firesPerSecond / p.one!.firesPerSecond)),
        ratioToPublish: withCeiling.length === 0 ? null : summarize(withCeiling.map((p) => p.this.firesPerSecond / p.ceiling!)),
        duplicates: pairs.reduce((sum, p) => sum + p.this.duplicates, 0),
      });
    }
    const most = report.replicas[report.replicas.length - 1]!;
    const duplicates = report.replicas.reduce((sum, r) => sum + r.duplicates, 0);
    target(`replicas ${most.replicas} vs 1`, `${most.ratioToOne.median.toFixed(2)} ×`, "≥ 1.00 ×", most.ratioToOne.median >= 1);
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
    };
    target("precision p99", `${report.precision.p99Ms.median.toFixed(1)} ms`, "≤ 20 ms", report.precision.p99Ms.median <= 20);
    target("precision max", `${report.precision.maxMs.median.toFixed(1)} ms`, "≤ 100 ms", report.precision.maxMs.median <= 100);
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
    report.startup = { ms: summarize(idle.flatMap((i) => i.startupMs)) };
    target("idle resident memory", `${report.idle.rssMB.median.toFixed(1)} MB`, "≤ 45 MB", report.idle.rssMB.median <= 45);
    target("idle CPU", `${report.idle.cpuPercent.median.toFixed(2)} %`, "≤ 0.5 %", report.idle.cpuPercent.median <= 0.5);
    target("startup to /readyz", `${report.startup.ms.median.toFixed(0)} ms`, "≤ 300 ms", report.startup.ms.median <= 300);
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
    report.pollCost = { rows: poll[0]!.rows, due: poll[0]!.due, withIndex: per("withIndex"), withoutIndex: per("withoutIndex") };
    for (const statement of ["poll", "claim"] as const) {
      const ms = report.pollCost.withIndex[statement].executionMs.median;
      target(`${statement} at ${fmt(poll[0]!.rows)} rows, index`, `${ms.toFixed(2)} ms`, "≤ 2 ms", ms <= 2);
    }
  }
  return report;
}

const noise = (s: Summary, digits = 0, unit = "") =>
  s.samples.length < 2 ? "1 run" : `${s.min.toFixed(digits)}–${s.max.toFixed(digits)}${unit} (±${((s.spread / 2) * 100).toFixed(0)} %)`;
const rate = (s: Summary) => fmt(s.median);
const mark = (met: boolean) => (met ? "yes" : "**no**");

/** The Markdown table: one line per figure, its ceiling beside it, and the run-to-run noise. */
export function renderTable(report: Report, runs: number): string {
  const lines = [
    `| Figure | Median of ${runs} run(s) | Ceiling, same run (median) | Ratio | Target | Met | Noise: min–max (± half-spread) |`,
    "|---|---|---|---|---|---|---|",
  ];
  const find = (prefix: string) => report.targets.find((t) => t.figure.startsWith(prefix));
  for (const b of report.burst) {
    const t = find(`burst ${fmt(b.rows)}`)!;
    lines.push(
      `| Burst: ${fmt(b.rows)} rows due at once | ${b.seconds.median.toFixed(2)} s = **${rate(b.firesPerSecond)} fires/s** | ` +
        `publish ${rate(b.publishCeiling)} msg/s (${b.messageBytes}-byte bodies); SQL claim+advance ${rate(b.sqlCeiling)} rows/s | ` +
        `${b.ratioToPublish.median.toFixed(2)} × publish | ≥ 0.80 × | ${mark(t.met)} | ${noise(b.firesPerSecond, 0, " fires/s")} |`,
    );
  }
  for (const r of report.replicas) {
    const isLast = r === report.replicas[report.replicas.length - 1];
    const goal = r.replicas === 1 ? "0 duplicates" : "≥ 1 replica, 0 duplicates";
    const met = r.duplicates === 0 && (r.replicas === 1 || !isLast || r.ratioToOne.median >= 1);
    const ceiling = report.burst.find((b) => b.rows === r.rows);
    const ceilingText = ceiling ? `publish ${rate(ceiling.publishCeiling)} msg/s (burst row); 1 replica` : "1 replica";
    const publishRatio = r.ratioToPublish ? `; ${r.ratioToPublish.median.toFixed(2)} × publish` : "";
    lines.push(
      `| Replicas: ${r.replicas} × burst of ${fmt(r.rows)} | **${rate(r.firesPerSecond)} fires/s**, ${r.duplicates} duplicates | ` +
        `${ceilingText} | ${r.ratioToOne.median.toFixed(2)} × 1 replica${publishRatio} | ${goal} | ${mark(met)} | ${noise(r.firesPerSecond, 0, " fires/s")} |`,
    );
  }
  if (report.precision) {
    const p = report.precision;
    const met = p.p99Ms.median <= 20 && p.maxMs.median <= 100;
    lines.push(
      `| Precision: ${fmt(p.rows)} rows over ${p.spreadSeconds} s, default poll/look-ahead | p50 ${p.p50Ms.median.toFixed(1)} ms, ` +
        `**p99 ${p.p99Ms.median.toFixed(1)} ms, max ${p.maxMs.median.toFixed(1)} ms** | — | — | p99 ≤ 20 ms, max ≤ 100 ms | ${mark(met)} | ` +
        `p99 ${noise(p.p99Ms, 1, " ms")}; max ${noise(p.maxMs, 1, " ms")} |`,
    );
  }
  if (report.idle) {
    const i = report.idle;
    const met = i.rssMB.median <= 45 && i.cpuPercent.median <= 0.5;
    lines.push(
      `| Idle: ${fmt(i.rows)} rows a day ahead, ${i.windowSeconds} s | **${i.rssMB.median.toFixed(1)} MB RSS, ${i.cpuPercent.median.toFixed(2)} % CPU** ` +
        `(of which anonymous ${i.anonMB.median.toFixed(1)} MB; peak ${i.rssMaxMB.median.toFixed(1)} MB) | — | — | ≤ 45 MB, ≤ 0.5 % | ${mark(met)} | ${noise(i.rssMB, 1, " MB")}; ${noise(i.cpuPercent, 2, " %")} |`,
    );
  }
  if (report.pollCost) {
    const c = report.pollCost;
    for (const statement of ["poll", "claim", "claimOne", "record"] as const) {
      const w = c.withIndex[statement];
      const wo = c.withoutIndex[statement];
      const what = {
        poll: `Poll (${fmt(c.due)} due)`,
        claim: `Claim, a full batch (LIMIT 500, ${fmt(c.due)} due)`,
        claimOne: "Claim, one row (LIMIT 1: a timer fire)",
        record: "Record outcomes of a full batch (UPDATE … FROM unnest)",
      }[statement];
      const targeted = statement === "poll" || statement === "claim";
      const goal = targeted ? "≤ 2 ms" : "—";
      const met = targeted ? mark(w.executionMs.median <= 2) : "—";
      // The write-back finds its rows by primary key: the due index only adds upkeep there.
      const ratio = statement === "record" ? "—" : `${(wo.executionMs.median / w.executionMs.median).toFixed(0)} × faster`;
      lines.push(
        `| ${what} at ${fmt(c.rows)} rows | **${w.executionMs.median.toFixed(2)} ms** with index (round trip ${w.roundTripMs.median.toFixed(2)} ms) | ` +
          `without index: ${wo.executionMs.median.toFixed(1)} ms | ${ratio} | ${goal} | ${met} | ` +
          `${noise(w.executionMs, 2, " ms")} |`,
      );
    }
  }
  if (report.startup) {
    const s = report.startup.ms;
    lines.push(
      `| Startup: spawn → /readyz 200 | **${s.median.toFixed(0)} ms** | — | — | ≤ 300 ms | ${mark(s.median <= 300)} | ` +
        `${noise(s, 0, " ms")} over ${s.samples.length} starts |`,
    );
  }
  return lines.join("\n");
}
