/**
 * Pure: what a claim does with a late slot, per the row's `misfire_policy` (docs/design.md §23).
 * `once` is the behaviour of a row without the column: fire the claimed slot once, late or not
 * (unless later than the grace), and count the slots passed over.
 */
import { MISSED_CAP, nextFire, type Schedule } from "./kinds.ts";
import { isMisfire, SKIPPED_PREFIX } from "./slots.ts";

export const MISFIRE_POLICIES = ["once", "skip", "all"] as const;
export type MisfirePolicy = (typeof MISFIRE_POLICIES)[number];

/** A row's policy: absent (NULL) is `once`; null for a value that is not a policy. */
export function policyOf(value: string | null | undefined): MisfirePolicy | null {
  if (value === undefined || value === null) return "once";
  return (MISFIRE_POLICIES as readonly string[]).includes(value) ? (value as MisfirePolicy) : null;
}

/** Gaps of a cron expression sampled to judge its jitter: the times after the row's slot. */
const JITTER_SAMPLE = 32;

/**
 * Why a jitter is refused, or null. It must be shorter than the interval, so jittered slots keep
 * their order and never pass the next slot. A cron row's times are uneven: its jitter must be
 * shorter than every gap between its next {@link JITTER_SAMPLE} times from `fromMs` (SQL checks
 * the interval rule; this one only JavaScript can).
 */
export function jitterProblem(
  schedule: Schedule,
  jitterSeconds: number | null | undefined,
  fromMs: number,
): string | null {
  if (!jitterSeconds) return null;
  if (jitterSeconds < 0) return "jitter_seconds < 0";
  if (schedule.kind === "interval" && jitterSeconds * 1000 >= schedule.intervalMs)
    return "jitter_seconds is not shorter than interval_seconds";
  if (schedule.kind !== "cron") return null;
  let gap = Number.POSITIVE_INFINITY;
  let t = schedule.cron.nextAfter(fromMs - 1);
  for (let i = 0; t !== null && i < JITTER_SAMPLE; i++) {
    const next = schedule.cron.nextAfter(t);
    if (next === null) break;
    gap = Math.min(gap, next - t);
    t = next;
  }
  return jitterSeconds * 1000 < gap
    ? null
    : `jitter_seconds ${jitterSeconds} is not shorter than the ${gap / 1000}s between two times of the cron expression`;
}

/**
 * The most slots of one backlog that `all` fires. When more have passed at a claim, the oldest
 * are counted (`missed_runs`, `missed_slots_total`) and not fired, and the latest
 * CATCH_UP_LIMIT fire one by one, oldest first: an outage of a day on a one-second schedule sends
 * 1000 messages, not 86,400.
 */
export const CATCH_UP_LIMIT = 1_000;
/** How far `all` walks a cron row's backlog; past it the row moves on to its next time after now. */
const CRON_WALK_LIMIT = 100_000;

export interface CatchUpInput {
  readonly policy: MisfirePolicy;
  readonly slotMs: number;
  /** When the slot was meant to fire: the slot plus its jitter. Lateness is measured from it. */
  readonly dueMs: number;
  readonly nowMs: number;
  readonly graceMs: number;
  /** The setting the grace came from, for the reason: `SCHEDULER_MISFIRE_GRACE` or `misfire_grace_seconds`. */
  readonly graceName: string;
}

export interface CatchUp {
  readonly fire: boolean;
  readonly nextMs: number;
  /** Slots passed over and counted, beside the claimed one. */
  readonly missed: number;
  /** Why the claimed slot is not fired; null when it fires. */
  readonly reason: string | null;
}

/** Throws RangeError when the schedule has no next slot (as {@link nextFire} does). */
export function catchUp(schedule: Schedule, input: CatchUpInput): CatchUp {
  const { policy, slotMs, dueMs, nowMs, graceMs, graceName } = input;
  if (policy === "all") return catchUpAll(schedule, slotMs, nowMs);
  const { nextMs, missed } = nextFire(schedule, slotMs, nowMs);
  if (isMisfire(dueMs, nowMs, graceMs)) {
    const late = ((nowMs - dueMs) / 1000).toFixed(3);
    const reason = `${SKIPPED_PREFIX}: slot ${iso(slotMs)} was ${late}s late, more than ${graceName}=${graceMs / 1000}s`;
    return { fire: false, nextMs, missed, reason };
  }
  if (policy === "skip" && missed > 0) {
    const reason = `${SKIPPED_PREFIX}: slot ${iso(slotMs)} and ${missed} later slot${missed === 1 ? "" : "s"} had passed (misfire_policy skip)`;
    return { fire: false, nextMs, missed, reason };
  }
  return { fire: true, nextMs, missed, reason: null };
}

/** `all`: fire the claimed slot and move to the very next one, unless the backlog passes the bound. */
function catchUpAll(schedule: Schedule, slotMs: number, nowMs: number): CatchUp {
  if (schedule.kind === "once") return { fire: true, nextMs: slotMs, missed: 0, reason: null };
  if (schedule.kind === "interval") {
    const step = schedule.intervalMs;
    const backlog = nowMs < slotMs ? 1 : Math.floor((nowMs - slotMs) / step) + 1;
    if (backlog <= CATCH_UP_LIMIT) return { fire: true, nextMs: slotMs + step, missed: 0, reason: null };
    const excess = backlog - CATCH_UP_LIMIT;
    return { fire: false, nextMs: slotMs + excess * step, missed: excess - 1, reason: tooMany(slotMs, backlog) };
  }
  const cron = schedule.cron;
  const passed: number[] = [];
  for (let t = cron.nextAfter(slotMs); t !== null && t <= nowMs; t = cron.nextAfter(t)) {
    if (passed.length === CRON_WALK_LIMIT) {
      // Too long to walk inside a claim: move on past now, counting what the walk saw (as MISSED_CAP does).
      const next = nextFire(schedule, slotMs, nowMs);
      return { fire: false, nextMs: next.nextMs, missed: Math.max(next.missed, MISSED_CAP), reason: tooMany(slotMs) };
    }
    passed.push(t);
  }
  const backlog = passed.length + 1;
  if (backlog <= CATCH_UP_LIMIT) {
    const nextMs = passed[0] ?? cron.nextAfter(slotMs);
    if (nextMs === null)
      throw new RangeError(`cron expression ${JSON.stringify(cron.expression)} has no time after ${iso(slotMs)}`);
    return { fire: true, nextMs, missed: 0, reason: null };
  }
  const excess = backlog - CATCH_UP_LIMIT;
  return { fire: false, nextMs: passed[excess - 1]!, missed: excess - 1, reason: tooMany(slotMs, backlog) };
}

function tooMany(slotMs: number, backlog?: number): string {
  const count = backlog === undefined ? `more than ${CRON_WALK_LIMIT}` : String(backlog);
  return `${SKIPPED_PREFIX}: ${count} slots from ${iso(slotMs)} had passed, more than the ${CATCH_UP_LIMIT} misfire_policy all fires; the oldest are counted, not fired`;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A row's policy columns and what they are judged against, as the console reads a row. */
export interface PolicyFields {
  readonly misfirePolicy?: string | null;
  readonly misfireGraceSeconds?: number | null;
  readonly maxRuns?: number | null;
  readonly jitterSeconds?: number | null;
  readonly endsAtMs?: number | null;
  readonly runCount: number;
  readonly intervalSeconds: number | null;
  readonly cronExpression?: string | null;
  readonly nextRunMs: number | null;
}

/**
 * The first bad policy value of a row, with the reason SQL gives it
 * (src/postgres/optional-columns.ts BAD_VALUES, in the same order), or null. The console judges
 * one row in JavaScript; the engine and the scans judge in SQL.
 */
export function policyProblem(f: PolicyFields): string | null {
  if (f.misfirePolicy != null && policyOf(f.misfirePolicy) === null) return "misfire_policy is not once, skip or all";
  if (f.misfireGraceSeconds != null && f.misfireGraceSeconds < 0) return "misfire_grace_seconds < 0";
  if (f.maxRuns != null && f.maxRuns < 1) return "max_runs < 1";
  if (f.maxRuns != null && f.runCount >= f.maxRuns) return "run_count has reached max_runs";
  if (f.jitterSeconds != null && f.jitterSeconds < 0) return "jitter_seconds < 0";
  if (
    f.jitterSeconds != null &&
    f.jitterSeconds > 0 &&
    (f.cronExpression ?? null) === null &&
    f.intervalSeconds !== null &&
    f.jitterSeconds >= f.intervalSeconds
  )
    return "jitter_seconds is not shorter than interval_seconds";
  if (f.endsAtMs != null && f.nextRunMs !== null && f.endsAtMs < f.nextRunMs) return "ends_at is before next_run_at";
  return null;
}
