/**
 * Pure slot arithmetic. A schedule's slots lie on the grid `first + n·interval`; the next slot
 * is computed from the slot just claimed, never from "now", so a late fire causes no drift.
 */

export interface NextSlot {
  /** The first slot on the grid strictly after `nowMs`. */
  readonly nextMs: number;
  /** Slots between the claimed one and `nextMs` that were not fired (one fire per claim). */
  readonly missed: number;
}

/** `next = slot + k·interval` for the smallest k ≥ 1 with `next > now`; `missed = k − 1`. */
export function nextSlot(slotMs: number, intervalMs: number, nowMs: number): NextSlot {
  if (!(intervalMs > 0)) throw new RangeError(`interval must be positive, got ${intervalMs}`);
  const k = Math.max(1, Math.floor((nowMs - slotMs) / intervalMs) + 1);
  return { nextMs: slotMs + k * intervalMs, missed: k - 1 };
}

/** A slot later than the grace is skipped; a grace of 0 means "always fire once". */
export function isMisfire(slotMs: number, nowMs: number, graceMs: number): boolean {
  return graceMs > 0 && nowMs - slotMs > graceMs;
}

/** After `failures` consecutive failed fires, should the schedule be paused? 0 = never. */
export function shouldPause(failuresAfterThisFire: number, pauseAfter: number): boolean {
  return pauseAfter > 0 && failuresAfterThisFire >= pauseAfter;
}

/** The prefix of every `last_error` the scheduler writes when it pauses a schedule. */
export const PAUSED_PREFIX = "paused by rune-scheduler";
/** The prefix of `last_error` on a row the operator paused with `pause` (not "paused by rune-scheduler"). */
export const OPERATOR_PAUSE_PREFIX = "paused by operator";
export const SKIPPED_PREFIX = "skipped by rune-scheduler";
/** The prefix of `last_error` on a row the scheduler deactivated because its end came (docs/design.md §24). */
export const ENDED_PREFIX = "ended";

export function pauseReason(failures: number, lastReason: string): string {
  return `${PAUSED_PREFIX} after ${failures} consecutive failed fires; last: ${lastReason}`;
}
