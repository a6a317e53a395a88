/**
 * The cron engine against a brute force written from the documented rules
 * (test/support/cron-reference.ts): generated expressions in zones with 30-minute, 45-minute and
 * Ramadan transitions, from starts near transitions and month ends, the next 20 fires each.
 * scripts/cron-sweep.ts runs the same comparison over as many cases as asked.
 */
import { expect, test } from "bun:test";
import { sweep, sweepRuns } from "../support/cron-compare.ts";

test("2000 generated cases (seed 20260215): the engine's verdict and next 20 fires are the reference's", () => {
  const result = sweep(20_260_215, 2000);
  expect(result.first).toEqual([]);
  expect(result).toMatchObject({ cases: 2000, mismatches: 0 });
});

test("300 generated runs (seed 20261207) with jitter and ends_at, from starts near DST transitions: each slot up to ends_at fires once at the reference's jittered time, and the last one ends the row", () => {
  const result = sweepRuns(20_261_207, 300);
  expect(result.first).toEqual([]);
  expect(result.mismatches).toBe(0);
  // Expressions that never match or fire too rarely for 60 times in 400 years are compareCase's.
  expect(result.runs).toBeGreaterThan(200);
});
