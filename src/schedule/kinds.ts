/**
 * Pure: a schedule's kind (a fixed interval on the grid of its `next_run_at`, or a cron
 * expression in a zone) and the slot arithmetic every caller shares: the next fire of the
 * engine, the next slot of `resume`, the slots of a `backfill` window, and how `stats` shows it.
 */

import { duration } from "../units.ts";
import { type CronSchedule, compileCron, cronKey } from "./cron.ts";
import { type NextSlot, nextSlot } from "./slots.ts";

export type Schedule =
  | { readonly kind: "interval"; readonly intervalMs: number }
  | { readonly kind: "cron"; readonly cron: CronSchedule }
  /** `max_runs = 1` with neither an interval nor a cron expression: one slot, at `next_run_at` (docs/design.md §24). */
  | { readonly kind: "once" };

/** The columns of a row that say how it is scheduled (the cron ones are absent without the optional columns). */
interface ScheduleFields {
  readonly intervalSeconds: number | null;
  readonly cronExpression?: string | null;
  readonly timezone?: string | null;
  /** `max_runs` (absent without the optional column): 1 with no interval and no cron is a one-shot. */
  readonly maxRuns?: number | null;
  /** The other policy columns (docs/contract.md §11), only for showing the schedule. */
  readonly misfirePolicy?: string | null;
  readonly misfireGraceSeconds?: number | null;
  readonly endsAtMs?: number | null;
  readonly jitterSeconds?: number | null;
}

const ONE_SHOT: Schedule = Object.freeze({ kind: "once" });

/** A one-shot row: `max_runs = 1`, no cron expression, `interval_seconds` NULL. */
export function isOneShot(fields: ScheduleFields): boolean {
  return fields.maxRuns === 1 && (fields.cronExpression ?? null) === null && (fields.intervalSeconds ?? null) === null;
}

type ScheduleOrReason =
  | { readonly ok: true; readonly schedule: Schedule }
  | { readonly ok: false; readonly reason: string };

const compiled = new Map<string, ScheduleOrReason>();
/** Compiled expressions kept; a table rarely holds more than a few hundred distinct ones. */
const CACHE_LIMIT = 10_000;

/** A row's schedule, or why it has none (docs/design.md §8, §11). */
export function scheduleOf(fields: ScheduleFields): ScheduleOrReason {
  const expression = fields.cronExpression ?? null;
  if (expression !== null) {
    const key = cronKey(expression, fields.timezone ?? null);
    let found = compiled.get(key);
    if (!found) {
      const result = compileCron(expression, fields.timezone ?? null);
      found = result.ok
        ? { ok: true, schedule: { kind: "cron", cron: result.schedule } }
        : { ok: false, reason: result.reason };
      if (compiled.size >= CACHE_LIMIT) compiled.clear();
      compiled.set(key, found);
    }
    return found;
  }
  if (isOneShot(fields)) return { ok: true, schedule: ONE_SHOT };
  if (fields.intervalSeconds === null || fields.intervalSeconds === undefined)
    return { ok: false, reason: "interval_seconds is NULL" };
  if (!(fields.intervalSeconds > 0)) return { ok: false, reason: "interval_seconds <= 0" };
  return { ok: true, schedule: { kind: "interval", intervalMs: fields.intervalSeconds * 1000 } };
}

/**
 * The most missed cron slots counted for one fire. Counting walks the expression, and a row
 * paused for a month on `* * * * * *` passed over millions: past this, `missed_runs` says
 * MISSED_CAP and {@link NextFire.missedCapped} is set.
 */
export const MISSED_CAP = 1_000;

interface NextFire extends NextSlot {
  /** True when `missed` stopped at {@link MISSED_CAP}: at least that many were passed over. */
  readonly missedCapped: boolean;
}

/**
 * After firing `slotMs` at `nowMs`: the next slot strictly after now, and the slots passed
 * over, i.e. those in (slot, now]. Interval: on the slot's grid (no drift). Cron: the first
 * time of the expression after now, in the row's zone. Throws RangeError when there is none.
 */
export function nextFire(schedule: Schedule, slotMs: number, nowMs: number): NextFire {
  // A one-shot has no next slot: it ends at its claim, and `next_run_at` keeps its one slot.
  if (schedule.kind === "once") return { nextMs: slotMs, missed: 0, missedCapped: false };
  if (schedule.kind === "interval") return { ...nextSlot(slotMs, schedule.intervalMs, nowMs), missedCapped: false };
  const nextMs = schedule.cron.nextAfter(Math.max(nowMs, slotMs));
  if (nextMs === null)
    throw new RangeError(
      `cron expression ${JSON.stringify(schedule.cron.expression)} has no time after ${new Date(nowMs).toISOString()}`,
    );
  let missed = 0;
  for (let t = schedule.cron.nextAfter(slotMs); t !== null && t <= nowMs; t = schedule.cron.nextAfter(t)) {
    if (missed === MISSED_CAP) return { nextMs, missed, missedCapped: true };
    missed += 1;
  }
  return { nextMs, missed, missedCapped: false };
}

/**
 * The first slot strictly after `nowMs`: on the grid through `anchorMs` (the row's
 * `next_run_at`, either side of now) for an interval, the next time of the expression for cron.
 * What `resume` moves a row to: no burst of the slots it missed while paused.
 */
export function nextSlotAfter(schedule: Schedule, anchorMs: number, nowMs: number): number | null {
  if (schedule.kind === "once") return anchorMs > nowMs ? anchorMs : null;
  if (schedule.kind === "cron") return schedule.cron.nextAfter(nowMs);
  const k = Math.floor((nowMs - anchorMs) / schedule.intervalMs) + 1;
  return anchorMs + k * schedule.intervalMs;
}

interface WindowSlots {
  /** Slots in [from, to), ascending, at most `max`. */
  readonly slots: number[];
  /** True when the window holds more than `max` slots. */
  readonly more: boolean;
}

/** The slots of a schedule in [fromMs, toMs): on the grid through `anchorMs`, or the expression's times. */
export function slotsInWindow(
  schedule: Schedule,
  anchorMs: number,
  fromMs: number,
  toMs: number,
  max: number,
): WindowSlots {
  const slots: number[] = [];
  if (schedule.kind === "once") {
    const inside = anchorMs >= fromMs && anchorMs < toMs;
    return { slots: inside && max > 0 ? [anchorMs] : [], more: inside && max === 0 };
  }
  if (schedule.kind === "interval") {
    const step = schedule.intervalMs;
    for (let k = Math.ceil((fromMs - anchorMs) / step); anchorMs + k * step < toMs; k++) {
      if (slots.length === max) return { slots, more: true };
      slots.push(anchorMs + k * step);
    }
    return { slots, more: false };
  }
  for (let t = schedule.cron.nextAfter(fromMs - 1); t !== null && t < toMs; t = schedule.cron.nextAfter(t)) {
    if (slots.length === max) return { slots, more: true };
    slots.push(t);
  }
  return { slots, more: false };
}

/**
 * The kind as `stats`, `check-db`, the verbs and the console show it: `every 5m`, or
 * `0 9 * * MON-FRI Europe/Berlin`, followed by the policy columns that are set:
 * `every 1m, misfire all, grace 30s, jitter 10s, ends 2027-03-31T23:59:59.000Z, max 5 runs`.
 */
export function describeSchedule(fields: ScheduleFields): string {
  const kind = describeKind(fields);
  const extra: string[] = [];
  if (fields.misfirePolicy != null) extra.push(`misfire ${fields.misfirePolicy}`);
  if (fields.misfireGraceSeconds != null) extra.push(`grace ${duration(fields.misfireGraceSeconds)}`);
  if (fields.jitterSeconds) extra.push(`jitter ${duration(fields.jitterSeconds)}`);
  if (fields.endsAtMs != null)
    extra.push(`ends ${Number.isFinite(fields.endsAtMs) ? new Date(fields.endsAtMs).toISOString() : "never"}`);
  if (fields.maxRuns != null && !isOneShot(fields)) extra.push(`max ${fields.maxRuns} runs`);
  return extra.length === 0 ? kind : `${kind}, ${extra.join(", ")}`;
}

function describeKind(fields: ScheduleFields): string {
  if (fields.cronExpression !== null && fields.cronExpression !== undefined)
    return `${fields.cronExpression} ${fields.timezone ?? "UTC"}`;
  if (isOneShot(fields)) return "once";
  if (fields.intervalSeconds === null || fields.intervalSeconds === undefined) return "interval NULL";
  return fields.intervalSeconds > 0
    ? `every ${duration(fields.intervalSeconds)}`
    : `every ${fields.intervalSeconds}s (invalid)`;
}
