/** drainInLanes alone: claims as plain functions, no engine. */
import { describe, expect, test } from "bun:test";
import { drainInLanes, type LaneBatch } from "../../src/engine/lanes.ts";

/** A queue of `due` rows claimed `size` at a time, each claim taking a turn of the event loop. */
function rows(due: number, size: number, fail?: { atClaim: number; error: Error }) {
  const state = { left: due, inFlight: 0, maxInFlight: 0, claims: 0, settledAfterFailure: 0, failedAt: -1 };
  const claim = async (): Promise<LaneBatch> => {
    const n = ++state.claims;
    state.inFlight += 1;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    state.inFlight -= 1;
    if (state.failedAt >= 0) state.settledAfterFailure += 1;
    if (fail && n === fail.atClaim) {
      state.failedAt = n;
      throw fail.error;
    }
    const claimed = Math.min(size, state.left);
    state.left -= claimed;
    const full = claimed === size;
    return { claimed, more: full, full };
  };
  return { state, claim };
}

describe("drainInLanes", () => {
  test("claims everything with at most `lanes` claims in flight", async () => {
    const { state, claim } = rows(100, 10);
    expect(await drainInLanes({ lanes: 2, claim, shouldStop: () => false })).toBe(100);
    expect(state.left).toBe(0);
    expect(state.maxInFlight).toBe(2);
  });

  test("one lane only when the first batch is short", async () => {
    const { state, claim } = rows(3, 10);
    expect(await drainInLanes({ lanes: 2, claim, shouldStop: () => false })).toBe(3);
    expect(state).toMatchObject({ claims: 1, maxInFlight: 1 });
  });

  test("a failing claim stops the drain, and is thrown only after the other lane's claim settled", async () => {
    const error = new Error("lost");
    const { state, claim } = rows(1_000, 10, { atClaim: 3, error });
    await expect(drainInLanes({ lanes: 2, claim, shouldStop: () => false })).rejects.toBe(error);
    expect(state.inFlight).toBe(0);
    expect(state.claims).toBeLessThan(10);
  });

  test("shouldStop ends every lane before its next claim", async () => {
    let stop = false;
    const { state, claim } = rows(1_000, 10);
    const claimThenStop = async () => {
      const batch = await claim();
      if (state.claims >= 4) stop = true;
      return batch;
    };
    await drainInLanes({ lanes: 2, claim: claimThenStop, shouldStop: () => stop });
    expect(state.claims).toBeLessThanOrEqual(5);
    expect(state.inFlight).toBe(0);
  });

  test("the first lane runs its hook before each of its claims", async () => {
    let hooks = 0;
    const { state, claim } = rows(30, 10);
    await drainInLanes({
      lanes: 1,
      claim,
      shouldStop: () => false,
      beforeFirstLaneClaim: async () => void (hooks += 1),
    });
    expect(hooks).toBe(state.claims);
  });
});
