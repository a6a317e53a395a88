/**
 * Pure: a schedule's next slots as the detail view lists them, each with its wall-clock time in
 * the schedule's zone and a mark where a daylight-saving change touches it.
 */
import { instantsOf, wallTime, zoneOffsetMs } from "../schedule/cron.ts";
import { dueAt } from "../schedule/jitter.ts";
import { nextSlotAfter, type Schedule } from "../schedule/kinds.ts";

type DstMark = "gap" | "overlap" | null;

interface SlotView {
  readonly ms: number;
  /** `YYYY-MM-DD HH:MM:SS` in the zone. */
  readonly wall: string;
  /** UTC offset at the slot, e.g. `+01:00`. */
  readonly offset: string;
  /**
   * `gap`: the slot is the instant the clocks jump forward, where a time inside the skipped
   * hour fires; `overlap`: its wall time happens twice, and it fires at the first.
   */
  readonly dst: DstMark;
  /** With jitter: when the slot fires (slot + offset, docs/design.md §23). */
  readonly dueMs?: number;
  /** The schedule's last slot: after it the row ends (its ends_at or max_runs, docs/design.md §24). */
  readonly last?: true;
}

/** What bounds and shifts a schedule's slots: its id and jitter, its end, the runs it has left. */
export interface SlotLimits {
  readonly scheduleId: number;
  readonly jitterSeconds?: number | null;
  readonly endsAtMs?: number | null;
  /** `max_runs − run_count`, or null without max_runs. */
  readonly runsLeft?: number | null;
}

function offsetText(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

function dstMark(zone: string, ms: number): DstMark {
  const wall = wallTime(zone, ms);
  if (instantsOf(zone, wall).length === 2) return "overlap";
  if (zoneOffsetMs(zone, ms - 1000) < zoneOffsetMs(zone, ms)) return "gap";
  return null;
}

function slotView(zone: string, ms: number): SlotView {
  const wall = new Date(wallTime(zone, ms)).toISOString().replace("T", " ").slice(0, 19);
  return { ms, wall, offset: offsetText(zoneOffsetMs(zone, ms)), dst: dstMark(zone, ms) };
}

/**
 * The next `count` slots from `nowMs` on: an interval's grid through `anchorMs` (its
 * next_run_at, which is itself the next slot while it lies ahead), or the expression's times.
 */
export function nextSlots(
  schedule: Schedule,
  anchorMs: number,
  nowMs: number,
  count: number,
  limits?: SlotLimits,
): SlotView[] {
  const zone = schedule.kind === "cron" ? schedule.cron.timezone : "UTC";
  const out: SlotView[] = [];
  let at: number | null =
    (schedule.kind === "interval" || schedule.kind === "once") && anchorMs > nowMs
      ? anchorMs
      : nextSlotAfter(schedule, anchorMs, nowMs);
  const endsAt = limits?.endsAtMs ?? Number.POSITIVE_INFINITY;
  const runsLeft = limits?.runsLeft ?? Number.POSITIVE_INFINITY;
  while (at !== null && at <= endsAt && out.length < count && out.length < runsLeft) {
    let view: SlotView = slotView(zone, at);
    if (limits?.jitterSeconds) view = { ...view, dueMs: dueAt(limits.scheduleId, at, limits.jitterSeconds) };
    const next = schedule.kind === "once" ? null : nextSlotAfter(schedule, anchorMs, at);
    if (next === null || next > endsAt || out.length + 1 === runsLeft) view = { ...view, last: true };
    out.push(view);
    at = next;
  }
  return out;
}
