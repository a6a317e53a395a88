/**
 * Pure: a schedule's jitter (docs/design.md §23). Each slot fires at the slot plus an offset in
 * [0, jitter) drawn from the schedule id and the slot ALONE, so every replica, before and after a
 * restart, computes the same time; `scheduled_for` and the message id stay the slot's.
 *
 * THE SAME FORMULA IS WRITTEN IN SQL (src/postgres/optional-columns.ts `jitterOffsetMs`), where
 * the claim decides due-ness: md5 of `<id>:<floor(slot ms)>`, its first 32 bits as an unsigned
 * integer h, offset = floor(h · jitter ms / 2^32). Changing one without the other makes a row
 * due in SQL at a time the plan does not agree with.
 */
import { createHash } from "node:crypto";

const TWO_32 = 4_294_967_296n;

/** The offset in ms, in [0, jitterSeconds·1000); 0 for no jitter. */
export function jitterOffsetMs(scheduleId: number, slotMs: number, jitterSeconds: number | null | undefined): number {
  if (!jitterSeconds || !(jitterSeconds > 0)) return 0;
  const digest = createHash("md5")
    .update(`${scheduleId}:${Math.floor(slotMs)}`)
    .digest();
  const h = BigInt(digest.readUInt32BE(0));
  // BigInt: h · jitter ms passes 2^53 for a jitter over ~35 minutes.
  return Number((h * BigInt(Math.round(jitterSeconds * 1000))) / TWO_32);
}

/** When the slot is meant to fire: the slot plus its offset. */
export function dueAt(scheduleId: number, slotMs: number, jitterSeconds: number | null | undefined): number {
  return slotMs + jitterOffsetMs(scheduleId, slotMs, jitterSeconds);
}
