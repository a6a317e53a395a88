/**
 * The cron engine against a brute force written from the documented rules
 * (test/support/cron-reference.ts): generated expressions in zones with 30-minute, 45-minute and
 * Ramadan transitions, from starts near transitions and month ends, the next 20 fires each.
 * scripts/cron-sweep.ts runs the same comparison over as many cases as asked.
 */
import { expect, test } from "bun:test";
import { sweep } from "../support/cron-compare.ts";

test("2000 generated cases (seed 20260215): the engine's verdict and next 20 fires are the reference's", () => {
  const result = sweep(20_260_215, 2000);
  expect(result.first).toEqual([]);
  expect(result).toMatchObject({ cases: 2000, mismatches: 0 });
});
