/**
 * Pure: the soak's invariants, judged on plain data gathered during the run (rows at the start
 * and at the end, every message received, the fault and invalid-row windows, the replicas' exits).
 */

export interface InitialRow {
  readonly id: number;
  readonly intervalMs: number;
  /** The row's first next_run_at: its grid is anchorMs + n·intervalMs. */
  readonly anchorMs: number;
}

export interface FinalRow {
  readonly id: number;
  readonly nextMs: number | null;
  readonly intervalSeconds: number | null;
  readonly failureCount: number;
  readonly lastError: string | null;
}

export interface ReceivedMessage {
  readonly messageId: string;
  readonly body: Record<string, unknown>;
  readonly receivedAt: number;
}

/** Slots of `id` in [fromMs, toMs) were not due while the soak held the row invalid. */
export interface Exclusion {
  readonly id: number;
  readonly fromMs: number;
  readonly toMs: number;
}

/** A kill or a fault on a link, local ms; a cut or kill has endMs = startMs. */
export interface FaultWindow {
  /** "kill", "cut pg", "outage mq", …: what the summary attributes duplicates to. */
  readonly kind: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface Violation {
  readonly kind: string;
  readonly detail: string;
}

export interface CheckInput {
  readonly initial: readonly InitialRow[];
  readonly final: readonly FinalRow[];
  readonly messages: readonly ReceivedMessage[];
  readonly exclusions: readonly Exclusion[];
  /** Kills, cuts, stalls and outages: the only places a duplicate may come from. */
  readonly faults: readonly FaultWindow[];
  /** A duplicate is "next to" a fault when it arrived at most this long after the fault ended. */
  readonly duplicateWindowMs: number;
}

export interface CheckResult {
  readonly violations: Violation[];
  readonly messages: number;
  readonly distinctSlots: number;
  readonly duplicates: number;
  readonly duplicatesNearFault: number;
  /** Duplicates by the kind of the latest fault that explains them. */
  readonly duplicatesByFault: Map<string, number>;
  readonly missedCounted: number;
  readonly slotsChecked: number;
  readonly slotsExcluded: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function checkInvariants(input: CheckInput): CheckResult {
  const violations: Violation[] = [];
  const add = (kind: string, detail: string) => violations.push({ kind, detail });
  const rows = new Map(input.initial.map((row) => [row.id, row]));
  const finals = new Map(input.final.map((row) => [row.id, row]));

  // One entry per messageId: every receipt time, and the largest missed_runs any copy carried.
  const byId = new Map<string, { scheduleId: number; slotMs: number; missed: number; receipts: number[] }>();
  for (const message of input.messages) {
    const scheduleId = Number(message.body.schedule_id);
    const slotMs = Date.parse(String(message.body.scheduled_for));
    const missed = Number(message.body.missed_runs);
    if (message.messageId !== `${scheduleId}:${slotMs}`) {
      add("bad messageId", `messageId ${message.messageId} for schedule ${scheduleId} slot ${iso(slotMs)}`);
      continue;
    }
    if (!Number.isInteger(missed) || missed < 0)
      add("bad missed_runs", `${message.messageId}: missed_runs ${message.body.missed_runs}`);
    const entry = byId.get(message.messageId);
    if (entry) {
      entry.receipts.push(message.receivedAt);
      entry.missed = Math.max(entry.missed, missed || 0);
    } else byId.set(message.messageId, { scheduleId, slotMs, missed: missed || 0, receipts: [message.receivedAt] });
  }

  let duplicates = 0;
  let duplicatesNearFault = 0;
  const duplicatesByFault = new Map<string, number>();
  let missedCounted = 0;
  // Per schedule: grid index → the messageId that fired it or counted it missed.
  const coverage = new Map<number, Map<number, string>>();
  for (const [messageId, entry] of byId) {
    missedCounted += entry.missed;
    const receipts = entry.receipts.sort((a, b) => a - b);
    const unexplained: number[] = [];
    for (let k = 1; k < receipts.length; k += 1) {
      duplicates += 1;
      const [previous, copy] = [receipts[k - 1]!, receipts[k]!];
      // Each further copy needs its own cause: a fault that began before it arrived, ended at most
      // the window before it, and ended after (or just before) the previous copy arrived; the
      // previous copy's commit was what the fault lost. A copy with no such fault is a violation.
      const causes = input.faults.filter(
        (f) => f.startMs <= copy && copy <= f.endMs + input.duplicateWindowMs && previous <= f.endMs + 2_000,
      );
      const latest = causes.sort((a, b) => b.startMs - a.startMs)[0];
      if (latest) {
        duplicatesNearFault += 1;
        duplicatesByFault.set(latest.kind, (duplicatesByFault.get(latest.kind) ?? 0) + 1);
      } else unexplained.push(copy);
    }
    if (unexplained.length > 0) {
      const at = unexplained.slice(0, 3).map(iso).join(", ") + (unexplained.length > 3 ? ", …" : "");
      add(
        "duplicate away from any kill/cut",
        `${messageId} received ${receipts.length} times (first ${iso(receipts[0]!)}); ${unexplained.length} copies with no fault before them: ${at}`,
      );
    }
    const row = rows.get(entry.scheduleId);
    if (!row) {
      add("unknown schedule", messageId);
      continue;
    }
    const offset = entry.slotMs - row.anchorMs;
    if (offset < 0 || offset % row.intervalMs !== 0) {
      add("slot off the row's grid", `${messageId} (anchor ${iso(row.anchorMs)}, interval ${row.intervalMs / 1000}s)`);
      continue;
    }
    const finalNext = finals.get(entry.scheduleId)?.nextMs;
    if (finalNext != null && entry.slotMs >= finalNext)
      add("fired beyond the row's final next_run_at", `${messageId} ≥ ${iso(finalNext)}`);
    const slots = coverage.get(entry.scheduleId) ?? new Map<number, string>();
    coverage.set(entry.scheduleId, slots);
    const index = offset / row.intervalMs;
    for (let n = index; n <= index + entry.missed; n += 1) {
      const other = slots.get(n);
      if (other !== undefined) {
        add(
          "slot accounted twice",
          `schedule ${entry.scheduleId} slot ${iso(row.anchorMs + n * row.intervalMs)}: by ${other} and ${messageId}`,
        );
      } else slots.set(n, messageId);
    }
  }

  let slotsChecked = 0;
  let slotsExcluded = 0;
  for (const row of input.initial) {
    const final = finals.get(row.id);
    if (!final || final.nextMs === null || !Number.isFinite(final.nextMs)) {
      add("row left without a valid next_run_at", `schedule ${row.id}: ${final?.nextMs ?? "missing"}`);
      continue;
    }
    if (final.intervalSeconds === null || final.intervalSeconds * 1000 !== row.intervalMs) {
      add("row's interval changed", `schedule ${row.id}: interval_seconds ${final.intervalSeconds}`);
    }
    if ((final.nextMs - row.anchorMs) % row.intervalMs !== 0)
      add("final next_run_at off the grid", `schedule ${row.id}: ${iso(final.nextMs)}`);
    if (final.failureCount !== 0 || final.lastError !== null) {
      add(
        "row blamed",
        `schedule ${row.id}: failure_count ${final.failureCount}, last_error ${JSON.stringify(final.lastError)}`,
      );
    }
    const slots = coverage.get(row.id);
    const excluded = input.exclusions.filter((window) => window.id === row.id);
    for (let n = 0, slot = row.anchorMs; slot < final.nextMs; n += 1, slot += row.intervalMs) {
      if (excluded.some((window) => slot >= window.fromMs && slot < window.toMs)) {
        slotsExcluded += 1;
        continue;
      }
      slotsChecked += 1;
      if (!slots?.has(n))
        add(
          "slot neither fired nor counted missed",
          `schedule ${row.id} slot ${iso(slot)} (interval ${row.intervalMs / 1000}s)`,
        );
    }
  }

  return {
    violations,
    messages: input.messages.length,
    distinctSlots: byId.size,
    duplicates,
    duplicatesNearFault,
    duplicatesByFault,
    missedCounted,
    slotsChecked,
    slotsExcluded,
  };
}
