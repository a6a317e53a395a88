/** The schedule kind: next fire and missed slots, resume's next slot, backfill's window, and the display. */
import { describe, expect, test } from "bun:test";
import {
  describeSchedule,
  MISSED_CAP,
  nextFire,
  nextSlotAfter,
  type Schedule,
  scheduleOf,
  slotsInWindow,
} from "../../src/schedule/kinds.ts";
import { buildMessage, type ClaimedRow, manualMessageId, messageIdFor } from "../../src/schedule/message.ts";
import { planFire } from "../../src/schedule/plan.ts";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
function schedule(fields: Parameters<typeof scheduleOf>[0]): Schedule {
  const found = scheduleOf(fields);
  if (!found.ok) throw new Error(found.reason);
  return found.schedule;
}

describe("scheduleOf", () => {
  test("a cron expression wins over interval_seconds, which may then be NULL", () => {
    expect(schedule({ intervalSeconds: 60, cronExpression: "0 9 * * *", timezone: "Europe/Berlin" }).kind).toBe("cron");
    expect(schedule({ intervalSeconds: null, cronExpression: "0 9 * * *" }).kind).toBe("cron");
    expect(schedule({ intervalSeconds: 60 }).kind).toBe("interval");
    expect(scheduleOf({ intervalSeconds: null })).toEqual({ ok: false, reason: "interval_seconds is NULL" });
    expect(scheduleOf({ intervalSeconds: 0, cronExpression: null })).toEqual({
      ok: false,
      reason: "interval_seconds <= 0",
    });
    expect(scheduleOf({ intervalSeconds: 60, cronExpression: "nope" })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('"nope" is invalid'),
    });
  });
});

describe("nextFire", () => {
  test("cron: the first time after now in the row's zone, and the times passed over since the slot", () => {
    const daily = schedule({ intervalSeconds: null, cronExpression: "0 9 * * *", timezone: "Asia/Kathmandu" });
    // Slot 3 days ago at 09:00 NPT, now just after today's 09:00: two passed over, next is tomorrow.
    const next = nextFire(daily, at("2026-05-01T03:15:00Z"), at("2026-05-04T03:15:01Z"));
    expect({ next: iso(next.nextMs), missed: next.missed, capped: next.missedCapped }).toEqual({
      next: "2026-05-05T03:15:00.000Z",
      missed: 3,
      capped: false,
    });
    const onTime = nextFire(daily, at("2026-05-01T03:15:00Z"), at("2026-05-01T03:15:00.020Z"));
    expect([iso(onTime.nextMs), onTime.missed]).toEqual(["2026-05-02T03:15:00.000Z", 0]);
  });
  test("cron: a schedule late by millions of slots counts up to MISSED_CAP and says so", () => {
    const everySecond = schedule({ intervalSeconds: null, cronExpression: "* * * * * *" });
    const started = performance.now();
    const next = nextFire(everySecond, at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00.500Z"));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect([iso(next.nextMs), next.missed, next.missedCapped]).toEqual(["2026-02-01T00:00:01.000Z", MISSED_CAP, true]);
  });
  test("interval: unchanged (the grid of the slot)", () => {
    const next = nextFire(schedule({ intervalSeconds: 60 }), 0, 150_000);
    expect(next).toEqual({ nextMs: 180_000, missed: 2, missedCapped: false });
  });
});

describe("nextSlotAfter (resume)", () => {
  test("interval: the grid through next_run_at, on either side of now", () => {
    const hourly = schedule({ intervalSeconds: 3600 });
    expect(nextSlotAfter(hourly, at("2026-01-01T00:10:00Z"), at("2026-01-03T05:00:00Z"))).toBe(
      at("2026-01-03T05:10:00Z"),
    );
    expect(nextSlotAfter(hourly, at("2026-01-05T00:10:00Z"), at("2026-01-03T05:00:00Z"))).toBe(
      at("2026-01-03T05:10:00Z"),
    );
  });
  test("cron: the next time after now", () => {
    const s = schedule({ intervalSeconds: null, cronExpression: "30 2 * * *", timezone: "Europe/Berlin" });
    expect(iso(nextSlotAfter(s, 0, at("2026-03-28T12:00:00Z"))!)).toBe("2026-03-29T01:00:00.000Z");
  });
});

describe("slotsInWindow (backfill)", () => {
  test("interval: grid slots in [from, to)", () => {
    const s = schedule({ intervalSeconds: 3600 });
    const { slots, more } = slotsInWindow(
      s,
      at("2026-01-10T00:30:00Z"),
      at("2026-01-01T00:00:00Z"),
      at("2026-01-01T03:30:00Z"),
      100,
    );
    expect([slots.map(iso), more]).toEqual([
      ["2026-01-01T00:30:00.000Z", "2026-01-01T01:30:00.000Z", "2026-01-01T02:30:00.000Z"],
      false,
    ]);
  });
  test("cron: the expression's times in [from, to), DST rules included, and `more` past the maximum", () => {
    const s = schedule({ intervalSeconds: null, cronExpression: "0 * * * *", timezone: "Australia/Lord_Howe" });
    const { slots } = slotsInWindow(s, 0, at("2026-10-03T14:30:00Z"), at("2026-10-03T17:00:00Z"), 100);
    expect(slots.map(iso)).toEqual([
      "2026-10-03T14:30:00.000Z",
      "2026-10-03T15:30:00.000Z",
      "2026-10-03T16:00:00.000Z",
    ]);
    expect(slotsInWindow(s, 0, at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z"), 5)).toMatchObject({
      more: true,
      slots: { length: 5 },
    });
  });
});

test("describeSchedule shows the kind", () => {
  expect(describeSchedule({ intervalSeconds: 300 })).toBe("every 5m");
  expect(describeSchedule({ intervalSeconds: 90, cronExpression: "0 9 * * MON-FRI", timezone: "Europe/Berlin" })).toBe(
    "0 9 * * MON-FRI Europe/Berlin",
  );
  expect(describeSchedule({ intervalSeconds: null, cronExpression: "*/15 * * * *", timezone: null })).toBe(
    "*/15 * * * * UTC",
  );
});

describe("planFire and the message for cron rows", () => {
  const row = (over: Partial<ClaimedRow> = {}): ClaimedRow => ({
    id: 42,
    workflowId: 7,
    slotMs: at("2026-03-29T00:45:00Z"),
    intervalSeconds: 0,
    cronExpression: "*/15 * * * *",
    timezone: "Europe/Berlin",
    runCount: 3,
    failureCount: 0,
    workflowName: "wf",
    workflowData: "{}",
    ...over,
  });
  const options = { misfireGraceMs: 0, maxMessageBytes: 1 << 20 };
  test("next slot across the gap, missed counted, message id from the slot", () => {
    const plan = planFire(row(), at("2026-03-29T01:00:00.010Z"), options);
    expect(plan.kind).toBe("publish");
    expect([iso(plan.nextMs), plan.missed]).toEqual(["2026-03-29T01:15:00.000Z", 1]);
    if (plan.kind === "publish") expect(plan.message.messageId).toBe(messageIdFor(42, row().slotMs));
  });
  test("a bad expression is unplannable with the parser's reason", () => {
    expect(() => planFire(row({ cronExpression: "99 * * * *" }), at("2026-03-29T01:00:00Z"), options)).toThrow(
      "minute 99 is out of range 0-59",
    );
    expect(() => planFire(row({ timezone: "Nowhere/City" }), at("2026-03-29T01:00:00Z"), options)).toThrow(
      'unknown time zone "Nowhere/City"',
    );
  });
  test("trigger_source and message id options; the scheduler's bytes are unchanged", () => {
    const base = row({ cronExpression: null });
    const scheduler = buildMessage(base, { nowMs: 1_000, missed: 0 });
    expect(scheduler.body.toString()).toContain('"trigger_source":"scheduler"');
    expect(
      buildMessage(base, { nowMs: 1_000, missed: 0, triggerSource: "scheduler" }).body.equals(scheduler.body),
    ).toBe(true);
    const manual = buildMessage(base, {
      nowMs: 1_000,
      missed: 0,
      triggerSource: "manual",
      messageId: manualMessageId(42, 1_000),
    });
    expect(manual.messageId).toBe("42:manual:1000");
    expect(manual.properties.messageId).toBe("42:manual:1000");
    expect(manual.body.toString()).toBe(
      scheduler.body.toString().replace('"trigger_source":"scheduler"', '"trigger_source":"manual"'),
    );
  });
});
