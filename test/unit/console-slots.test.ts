import { describe, expect, test } from "bun:test";
import { pauseReason, scheduleId } from "../../src/console/input.ts";
import { rowView, stateOf } from "../../src/console/rows.ts";
import { nextSlots } from "../../src/console/slots-view.ts";
import { scheduleOf } from "../../src/schedule/kinds.ts";

const cron = (expression: string, zone: string) => {
  const found = scheduleOf({ intervalSeconds: null, cronExpression: expression, timezone: zone });
  if (!found.ok) throw new Error(found.reason);
  return found.schedule;
};

describe("next slots", () => {
  test("marks the spring-forward gap and the fall-back overlap", () => {
    // Europe/Berlin: 2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00.
    const spring = nextSlots(cron("30 2 * * *", "Europe/Berlin"), 0, Date.UTC(2026, 2, 27, 12), 3);
    expect(spring.map((s) => s.dst)).toEqual([null, "gap", null]);
    expect(spring[1]!.wall).toBe("2026-03-29 03:00:00");
    const autumn = nextSlots(cron("30 2 * * *", "Europe/Berlin"), 0, Date.UTC(2026, 9, 23, 12), 3);
    expect(autumn.map((s) => s.dst)).toEqual([null, "overlap", null]);
    expect(autumn[1]).toMatchObject({ wall: "2026-10-25 02:30:00", offset: "+02:00" });
  });
  test("an interval lists its grid from next_run_at while it lies ahead", () => {
    const now = Date.UTC(2026, 0, 1);
    const slots = nextSlots({ kind: "interval", intervalMs: 60_000 }, now + 90_000, now, 3);
    expect(slots.map((s) => s.ms - now)).toEqual([90_000, 150_000, 210_000]);
    expect(slots.every((s) => s.dst === null && s.offset === "+00:00")).toBe(true);
  });
});

describe("row state", () => {
  const base = {
    id: 1,
    workflowId: 1,
    workflowName: "w",
    hasWorkflow: true,
    isActive: true,
    nextRunMs: 10_000,
    intervalSeconds: 60,
    cronExpression: null,
    timezone: null,
    runCount: 0,
    failureCount: 0,
    lastRunMs: null,
    lastError: null,
  };
  test("paused, invalid, failing, overdue, active, in that order", () => {
    expect(stateOf({ ...base, isActive: false, hasWorkflow: false }, 0, 0)).toBe("paused");
    expect(stateOf({ ...base, hasWorkflow: false, failureCount: 2 }, 0, 0)).toBe("invalid");
    expect(stateOf({ ...base, intervalSeconds: 0 }, 0, 0)).toBe("invalid");
    expect(stateOf({ ...base, nextRunMs: null }, 0, 0)).toBe("invalid");
    expect(stateOf({ ...base, failureCount: 1 }, 0, 0)).toBe("failing");
    expect(stateOf(base, 100_000, 30_000)).toBe("overdue");
    expect(stateOf(base, 20_000, 30_000)).toBe("active");
  });
  test("the view is JSON-safe and names the reason", () => {
    const view = rowView({ ...base, nextRunMs: Number.POSITIVE_INFINITY }, 0, 0);
    expect(view.nextRunMs).toBe("infinity");
    expect(view.invalidReason).toBe("next_run_at is not finite");
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
  });
});

describe("action input", () => {
  test("ids and reasons", () => {
    expect(scheduleId("42")).toBe(42);
    for (const bad of ["0", "-1", "1.5", "abc", "99999999999", "01"]) expect(() => scheduleId(bad)).toThrow(/invalid/);
    expect(pauseReason({ reason: "  maintenance " })).toBe("maintenance");
    expect(pauseReason({})).toBeNull();
    expect(() => pauseReason({ reason: 5 })).toThrow(/string/);
    expect(() => pauseReason({ reason: "a\nb" })).toThrow(/one line/);
    expect(() => pauseReason({ reason: "x".repeat(501) })).toThrow(/longer/);
  });
});
