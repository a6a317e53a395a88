/** The HA worker's accounting (scripts/ha/worker.ts), which test/ha's "nothing lost" rests on. */
import { describe, expect, test } from "bun:test";
import { Ledger } from "../../scripts/ha/worker.ts";

const S = 1_800_000_000_000;
const deliver = (ledger: Ledger, schedule: number, slotS: number, missedRuns = 0, atMs = S + slotS * 1000 + 5) =>
  ledger.record({
    id: `${schedule}:${S + slotS * 1000}`,
    scheduleId: schedule,
    slotMs: S + slotS * 1000,
    missedRuns,
    atMs,
  });

describe("Ledger", () => {
  test("every slot delivered: nothing lost", () => {
    const ledger = new Ledger();
    for (let s = 0; s < 5; s++) deliver(ledger, 1, s);
    expect(ledger.lost(new Map([[1, S]]))).toEqual({ lost: 0, missedRuns: 0, lostIds: [] });
  });

  test("a gap counted in the missed_runs of the fire before it is not lost; one that is not counted is", () => {
    const counted = new Ledger();
    deliver(counted, 1, 0, 3); // fired late: slots 1–3 passed over
    deliver(counted, 1, 4);
    expect(counted.lost()).toEqual({ lost: 0, missedRuns: 3, lostIds: [] });
    const missing = new Ledger();
    deliver(missing, 1, 0, 1);
    deliver(missing, 1, 4);
    expect(missing.lost()).toEqual({ lost: 2, missedRuns: 1, lostIds: [`1:${S}..${S + 4000}`] });
  });

  test("slots before a schedule's first delivery are lost; of a slot's copies the largest missed_runs counts", () => {
    const ledger = new Ledger();
    deliver(ledger, 1, 2, 0);
    deliver(ledger, 1, 2, 2); // its re-publish after an outage counts the slots skipped since
    deliver(ledger, 1, 5);
    expect(ledger.lost(new Map([[1, S]]))).toEqual({ lost: 2, missedRuns: 2, lostIds: [`1:${S}..${S + 2000}`] });
    expect(ledger.duplicates.map((d) => d.id)).toEqual([`1:${S + 2000}`]);
    expect(ledger.summary()).toMatchObject({
      delivered: 3,
      uniqueIds: 2,
      duplicates: 1,
      duplicatesWithOtherMissedRuns: 1,
    });
  });

  test("first fire after a moment, and the longest gap", () => {
    const ledger = new Ledger();
    deliver(ledger, 1, 0);
    deliver(ledger, 1, 1, 0, S + 7_000); // slot 1 fired 6 s late
    deliver(ledger, 1, 7);
    expect(ledger.firstFireAfter(S + 500)).toBe(S + 7_000);
    expect(ledger.longestGap(S, S + 8_000)).toBe(7_000 - 5);
  });
});
