/**
 * Pure: a schedule's next slots as the detail view lists them, each with its wall-clock time in
 * the schedule's zone and a mark where a daylight-saving change touches it.
 */
import { instantsOf, wallTime, zoneOffsetMs } from "../schedule/cron.ts";
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
export function nextSlots(schedule: Schedule, anchorMs: number, nowMs: number, count: number): SlotView[] {
  const zone = schedule.kind === "cron" ? schedule.cron.timezone : "UTC";
  const out: SlotView[] = [];
  let at: number | null =
    schedule.kind === "interval" && anchorMs > nowMs ? anchorMs : nextSlotAfter(schedule, anchorMs, nowMs);
  while (at !== null && out.length < count) {
    out.push(slotView(zone, at));
    at = nextSlotAfter(schedule, anchorMs, at);
  }
  return out;
}
