import { describe, expect, test } from "bun:test";
import { isMisfire, nextSlot, shouldPause } from "../../src/schedule/slots.ts";

const T = Date.UTC(2026, 10, 26, 13, 45);

describe("nextSlot", () => {
  test("on time: the next slot is one interval later", () => {
    expect(nextSlot(T, 60_000, T + 12)).toEqual({ nextMs: T + 60_000, missed: 0 });
  });
  test("stays on the grid however late the fire is (no drift)", () => {
    expect(nextSlot(T, 60_000, T + 59_999)).toEqual({ nextMs: T + 60_000, missed: 0 });
    expect(nextSlot(T, 60_000, T + 60_000)).toEqual({ nextMs: T + 120_000, missed: 1 });
  });
  test("ten slots due at once: one fire, 9 missed, next in the future on the grid", () => {
    // Slots T, T+I, …, T+9I have all passed; T+10I has not.
    const now = T + 9.5 * 30_000;
    const { nextMs, missed } = nextSlot(T, 30_000, now);
    expect(missed).toBe(9);
    expect(nextMs).toBe(T + 10 * 30_000);
    expect(nextMs).toBeGreaterThan(now);
    expect((nextMs - T) % 30_000).toBe(0);
  });
  test("a slot claimed before its time still moves by exactly one interval", () => {
    expect(nextSlot(T, 1_000, T - 5)).toEqual({ nextMs: T + 1_000, missed: 0 });
  });
  test("keeps sub-millisecond slot digits", () => {
    expect(nextSlot(T + 0.25, 1_000, T + 10).nextMs).toBe(T + 1_000.25);
  });
  test("refuses a non-positive interval", () => {
    expect(() => nextSlot(T, 0, T)).toThrow(RangeError);
  });
});

describe("misfire and pause rules", () => {
  test("grace 0 always fires", () => expect(isMisfire(T, T + 86_400_000, 0)).toBe(false));
  test("later than the grace is a misfire; exactly the grace is not", () => {
    expect(isMisfire(T, T + 10_001, 10_000)).toBe(true);
    expect(isMisfire(T, T + 10_000, 10_000)).toBe(false);
  });
  test("pause after N consecutive failures; 0 never", () => {
    expect(shouldPause(3, 3)).toBe(true);
    expect(shouldPause(2, 3)).toBe(false);
    expect(shouldPause(1000, 0)).toBe(false);
  });
});
