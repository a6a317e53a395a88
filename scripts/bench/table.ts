/**
 * The Markdown tables docs/performance.md quotes: one line per figure with its ceiling beside it, its
 * target and the run-to-run noise; and where the CPU went during each burst.
 */

import { type Report, ratioText, TARGETS } from "./report.ts";
import type { Summary } from "./stats.ts";
import { fmt } from "./suite.ts";

const noise = (s: Summary, digits = 0, unit = "") =>
  s.samples.length < 2
    ? "1 run"
    : `${s.min.toFixed(digits)}–${s.max.toFixed(digits)}${unit} (±${((s.spread / 2) * 100).toFixed(0)} %)`;
const rate = (s: Summary) => fmt(s.median);
const x = (s: Summary, goal = Number.NaN) => `${ratioText(s.median, goal)} ×`;
const mark = (met: boolean) => (met ? "yes" : "**no**");
const met = (report: Report, figure: string) => report.targets.find((t) => t.figure === figure)?.met ?? false;

/** Shares of the fires, in %, from one run's split "a/b/c". */
function shares(split: string): string {
  const counts = split.split("/").map(Number);
  const total = counts.reduce((a, b) => a + b, 0) || 1;
  return `${counts.map((c) => Math.round((100 * c) / total)).join("/")} %`;
}

export function renderTable(report: Report, runs: number): string {
  const lines = [
    `| Figure | Median of ${runs} run(s) | Ceiling, same run (median) | Ratio | Target | Met | Noise: min–max (± half-spread) |`,
    "|---|---|---|---|---|---|---|",
  ];
  for (const b of report.burst) {
    const ceilings =
      `publish, same messages ${rate(b.publishCeiling)} msg/s (${b.messageBytes}-byte bodies); ` +
      `publish, small messages ${rate(b.smallCeiling)} msg/s (${b.smallBytes}-byte bodies); SQL claim+advance ${rate(b.sqlCeiling)} rows/s`;
    lines.push(
      `| Burst: ${fmt(b.rows)} rows already due, from process start | ${b.fromStartSeconds.median.toFixed(2)} s = **${rate(b.fromStart)} fires/s** ` +
        `(first message at ${b.firstMessageMs.median.toFixed(0)} ms) | ${ceilings} | **${x(b.startToSmall, TARGETS.burstSmallFromStart)} small**; ${x(b.startToSame)} same | ` +
        `≥ ${TARGETS.burstSmallFromStart.toFixed(2)} × small | ${mark(met(report, `burst ${fmt(b.rows)}, from process start`))} | ${noise(b.fromStart, 0, " fires/s")} |`,
      `| Burst: ${fmt(b.rows)} rows, from the first message | ${b.fromFirstSeconds.median.toFixed(2)} s = **${rate(b.fromFirst)} fires/s** | ` +
        `the same | **${x(b.firstToSame, TARGETS.burstSameFromFirst)} same**; ${x(b.firstToSmall)} small | ≥ ${TARGETS.burstSameFromFirst.toFixed(2)} × same | ` +
        `${mark(met(report, `burst ${fmt(b.rows)}, from the first message`))} | ${noise(b.fromFirst, 0, " fires/s")} |`,
    );
  }
  for (const r of report.replicas) {
    const one = r.replicas === 1;
    const goal = one ? "0 duplicates" : `≥ ${TARGETS.replicasToOne.toFixed(2)} × 1 replica, 0 duplicates`;
    const ok = r.duplicates === 0 && (one || met(report, `replicas ${r.replicas} vs 1, from process start`));
    const small = r.startToSmall ? `; ${x(r.startToSmall)} small` : "";
    const ratios = one
      ? `${small.slice(2) || "—"}`
      : `**${x(r.startToOne, TARGETS.replicasToOne)} 1 replica** (from the first message ${x(r.firstToOne)})${small}`;
    lines.push(
      `| Replicas: ${r.replicas} × ${fmt(r.rows)} rows already due, from process start | **${rate(r.fromStart)} fires/s** ` +
        `(from the first message ${rate(r.fromFirst)}), ${r.duplicates} duplicates, split ${shares(r.splits[r.splits.length - 1]!)} | ` +
        `1 replica, same run; small-message ceiling of the burst row | ${ratios} | ${goal} | ${mark(ok)} | ${noise(r.fromStart, 0, " fires/s")} |`,
    );
  }
  if (report.precision) {
    const p = report.precision;
    const ok = met(report, "precision p99") && met(report, "precision max");
    lines.push(
      `| Precision: ${fmt(p.rows)} rows over ${p.spreadSeconds} s, default poll/look-ahead | p50 ${p.p50Ms.median.toFixed(1)} ms, ` +
        `**p99 ${p.p99Ms.median.toFixed(1)} ms, max ${p.maxMs.median.toFixed(1)} ms**; of the ${p.tail.messages} messages at or over p99, ` +
        `${p.tail.hostStalled} during a host stall, ${p.tail.duringCollection} during a GC, ${p.tail.afterCloseSlot} right after another slot, ${p.tail.neither} none of these | — | — | p99 ≤ ${TARGETS.precisionP99Ms} ms, max ≤ ${TARGETS.precisionMaxMs} ms | ` +
        `${mark(ok)} | p99 ${noise(p.p99Ms, 1, " ms")}; max ${noise(p.maxMs, 1, " ms")} |`,
    );
  }
  if (report.idle) {
    const i = report.idle;
    const ok = met(report, "idle resident memory") && met(report, "idle CPU");
    lines.push(
      `| Idle: ${fmt(i.rows)} rows a day ahead, ${i.windowSeconds} s | **${i.rssMB.median.toFixed(1)} MB RSS, ${i.cpuPercent.median.toFixed(2)} % CPU** ` +
        `(of which anonymous ${i.anonMB.median.toFixed(1)} MB; peak ${i.rssMaxMB.median.toFixed(1)} MB) | — | — | ` +
        `≤ ${TARGETS.idleRssMB} MB (a single-lane build on an Intel host), ≤ ${TARGETS.idleCpuPercent} % | ${mark(ok)} | ${noise(i.rssMB, 1, " MB")}; ${noise(i.cpuPercent, 2, " %")} |`,
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
      const goal = targeted ? `≤ ${statement === "poll" ? TARGETS.pollMs : TARGETS.claimMs} ms` : "—";
      const ok = targeted ? mark(met(report, `${statement} at ${fmt(c.rows)} rows, index`)) : "—";
      // The write-back finds its rows by primary key: the due index only adds upkeep there.
      const ratio =
        statement === "record" ? "—" : `${(wo.executionMs.median / w.executionMs.median).toFixed(0)} × faster`;
      lines.push(
        `| ${what} at ${fmt(c.rows)} rows | **${w.executionMs.median.toFixed(2)} ms** with index (round trip ${w.roundTripMs.median.toFixed(2)} ms) | ` +
          `without index: ${wo.executionMs.median.toFixed(1)} ms | ${ratio} | ${goal} | ${ok} | ${noise(w.executionMs, 2, " ms")} |`,
      );
    }
  }
  if (report.ready) {
    const s = report.ready.ms;
    lines.push(
      `| Startup: spawn → /readyz 200 | **${s.median.toFixed(0)} ms** | — | — | ≤ ${TARGETS.readyMs} ms | ${mark(met(report, "startup to /readyz"))} | ` +
        `${noise(s, 0, " ms")} over ${s.samples.length} starts |`,
    );
  }
  if (report.firstMessage) {
    const s = report.firstMessage.ms;
    lines.push(
      `| Startup: spawn → first message, ${fmt(report.firstMessage.rows)} rows already due | **${s.median.toFixed(0)} ms** | — | — | ` +
        `≤ ${TARGETS.firstMessageMs} ms | ${mark(met(report, "startup to the first message"))} | ${noise(s, 0, " ms")} over ${s.samples.length} starts |`,
    );
  }
  return lines.join("\n");
}

/**
 * CPU during each burst (from process start to the end) and during each ceiling: medians over
 * the runs, in % of one core (the machine: % of all cores).
 */
export function renderCpuTable(report: Report): string {
  const pct = (s: Summary) => `${s.median.toFixed(0)} %`;
  const line = (
    what: string,
    client: string,
    c: { broker: Summary; postgres: Summary; machineBusy: Summary },
    own: Summary,
  ) => `| ${what} | ${client} ${pct(own)} | ${pct(c.broker)} | ${pct(c.postgres)} | ${pct(c.machineBusy)} |`;
  const lines: string[] = [];
  for (const b of report.burst) {
    const burst = { broker: b.brokerCpu, postgres: b.postgresCpu, machineBusy: b.machineBusy };
    lines.push(line(`Burst of ${fmt(b.rows)}, 1 replica, from process start`, "scheduler", burst, b.schedulerCpu));
    if (b.ceilingCpu) {
      const { publish, small, sql } = b.ceilingCpu;
      lines.push(
        line(`Publish ceiling, same messages, ${fmt(b.rows)}`, "bare publisher", publish, publish.client),
        line(`Publish ceiling, small messages, ${fmt(b.rows)}`, "bare publisher", small, small.client),
        line(`SQL ceiling, ${fmt(b.rows)} rows`, "SQL loop", sql, sql.client),
      );
    }
  }
  for (const r of report.replicas.filter((r) => r.replicas > 1)) {
    lines.push(
      line(
        `Burst of ${fmt(r.rows)}, ${r.replicas} replicas, from process start`,
        "schedulers",
        { broker: r.brokerCpu, postgres: r.postgresCpu, machineBusy: r.machineBusy },
        r.schedulerCpu,
      ),
    );
  }
  if (lines.length === 0) return "";
  return [
    "| During | Client, % of one core | RabbitMQ (beam.smp) | PostgreSQL (all its processes) | Whole machine, % of both cores |",
    "|---|---|---|---|---|",
    ...lines,
  ].join("\n");
}
