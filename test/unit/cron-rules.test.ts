/**
 * The expression language as cronie reads it: day-of-month lists across short months, the Vixie
 * day-of-month/day-of-week rule, the macros, and what is refused, each with its reason.
 */
import { describe, expect, test } from "bun:test";
import { compileCron } from "../../src/schedule/cron.ts";
import { scheduleOf } from "../../src/schedule/kinds.ts";
import { fires } from "../support/schedule.ts";

const reason = (expression: string, zone: string | null = null) => {
  const compiled = compileCron(expression, zone);
  return compiled.ok ? "ok" : compiled.reason;
};

describe("a day-of-month list past the end of a short month loses no run in the next month", () => {
  test("1,31 from mid-February fires on 1 March, then 31 March", () => {
    expect(fires("0 0 1,31 * *", "UTC", "2026-02-15T00:00:00Z", 3)).toEqual([
      "2026-03-01T00:00:00Z",
      "2026-03-31T00:00:00Z",
      "2026-04-01T00:00:00Z",
    ]);
  });
  test("*/10, */15, 1,15,31, 2,31 and 30 2 1,31 from February", () => {
    expect(fires("0 0 */10 * *", "UTC", "2026-02-25T00:00:00Z", 2)).toEqual([
      "2026-03-01T00:00:00Z",
      "2026-03-11T00:00:00Z",
    ]);
    expect(fires("0 0 */15 * *", "UTC", "2026-02-20T00:00:00Z", 2)).toEqual([
      "2026-03-01T00:00:00Z",
      "2026-03-16T00:00:00Z",
    ]);
    expect(fires("0 0 1,15,31 * *", "UTC", "2026-02-20T00:00:00Z", 2)).toEqual([
      "2026-03-01T00:00:00Z",
      "2026-03-15T00:00:00Z",
    ]);
    expect(fires("0 0 2,31 * *", "UTC", "2026-02-20T00:00:00Z", 2)).toEqual([
      "2026-03-02T00:00:00Z",
      "2026-03-31T00:00:00Z",
    ]);
    expect(fires("30 2 1,31 * *", "Europe/Berlin", "2026-02-20T00:00:00Z", 2)).toEqual([
      "2026-03-01T01:30:00Z",
      "2026-03-31T00:30:00Z",
    ]);
  });
  test("in a non-leap year, 1,30 and 1-2,30-31 fire on 1 March after February", () => {
    expect(fires("0 0 1,30 * *", "UTC", "2027-02-10T00:00:00Z", 2)).toEqual([
      "2027-03-01T00:00:00Z",
      "2027-03-30T00:00:00Z",
    ]);
    expect(fires("0 0 1-2,30-31 * *", "UTC", "2027-02-10T00:00:00Z", 3)).toEqual([
      "2027-03-01T00:00:00Z",
      "2027-03-02T00:00:00Z",
      "2027-03-30T00:00:00Z",
    ]);
  });
});

describe("day of month and day of week (Vixie cron, cronie)", () => {
  test("both restricted: either may match", () => {
    // 1 January 2026 is a Thursday.
    expect(fires("0 0 1 * MON", "UTC", "2025-12-31T12:00:00Z", 3)).toEqual([
      "2026-01-01T00:00:00Z",
      "2026-01-05T00:00:00Z",
      "2026-01-12T00:00:00Z",
    ]);
    expect(fires("0 0 1-7 * 1-5", "UTC", "2026-01-07T12:00:00Z", 2)).toEqual([
      "2026-01-08T00:00:00Z",
      "2026-01-09T00:00:00Z",
    ]);
  });
  test("a field whose first character is * counts as unrestricted, so both must match", () => {
    // The 1st, when it is a Sunday, Tuesday, Thursday or Saturday: Jan (Thu), Feb (Sun), Mar (Sun), May (Fri: no), ...
    expect(fires("0 0 1 * */2", "UTC", "2025-12-31T12:00:00Z", 4)).toEqual([
      "2026-01-01T00:00:00Z",
      "2026-02-01T00:00:00Z",
      "2026-03-01T00:00:00Z",
      "2026-08-01T00:00:00Z",
    ]);
    // Fridays in the first week: */1 in day of month is every day, so day of week decides.
    expect(fires("0 0 */1 * FRI", "UTC", "2026-01-01T00:00:00Z", 2)).toEqual([
      "2026-01-02T00:00:00Z",
      "2026-01-09T00:00:00Z",
    ]);
  });
  test("the same rule decides whether an expression ever matches", () => {
    expect(reason("0 0 31 2 */2")).toStartWith('cron expression "0 0 31 2 */2" never matches a date');
    expect(reason("0 0 31 2 MON")).toBe("ok");
    expect(reason("0 0 30 2 *")).toStartWith('cron expression "0 0 30 2 *" never matches a date');
  });
});

describe("the macros, names and numbers cronie accepts", () => {
  test("@yearly @annually @monthly @weekly @daily @midnight @hourly", () => {
    expect(fires("@yearly", "UTC", "2026-03-01T00:00:00Z", 1)).toEqual(["2027-01-01T00:00:00Z"]);
    expect(fires("@annually", "UTC", "2026-03-01T00:00:00Z", 1)).toEqual(["2027-01-01T00:00:00Z"]);
    expect(fires("@monthly", "UTC", "2026-03-02T00:00:00Z", 1)).toEqual(["2026-04-01T00:00:00Z"]);
    expect(fires("@weekly", "UTC", "2026-01-01T00:00:00Z", 2)).toEqual([
      "2026-01-04T00:00:00Z",
      "2026-01-11T00:00:00Z",
    ]);
    expect(fires("@daily", "Europe/Berlin", "2026-01-01T12:00:00Z", 1)).toEqual(["2026-01-01T23:00:00Z"]);
    expect(fires("@midnight", "UTC", "2026-01-01T12:00:00Z", 1)).toEqual(["2026-01-02T00:00:00Z"]);
    expect(fires("@hourly", "UTC", "2026-01-01T12:30:00Z", 1)).toEqual(["2026-01-01T13:00:00Z"]);
  });
  test("names in any case, 7 as Sunday, steps on ranges and *, N/step as N through the field's end", () => {
    expect(fires("0 0 * jan,Jul sun", "UTC", "2026-01-01T00:00:00Z", 2)).toEqual([
      "2026-01-04T00:00:00Z",
      "2026-01-11T00:00:00Z",
    ]);
    expect(fires("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual(["2026-01-04T00:00:00Z"]);
    expect(fires("0 0 * * FRI-7", "UTC", "2026-01-01T00:00:00Z", 3)).toEqual([
      "2026-01-02T00:00:00Z",
      "2026-01-03T00:00:00Z",
      "2026-01-04T00:00:00Z",
    ]);
    expect(fires("50/5 * * * *", "UTC", "2026-01-01T00:00:00Z", 3)).toEqual([
      "2026-01-01T00:50:00Z",
      "2026-01-01T00:55:00Z",
      "2026-01-01T01:50:00Z",
    ]);
    expect(fires("0 0 * * MON-FRI/2", "UTC", "2026-01-01T00:00:00Z", 3)).toEqual([
      "2026-01-02T00:00:00Z",
      "2026-01-05T00:00:00Z",
      "2026-01-07T00:00:00Z",
    ]);
  });
});

describe("what is refused, with the field, the value and the allowed range", () => {
  test("values, ranges and steps out of their field", () => {
    expect(reason("61 * * * *")).toBe('cron expression "61 * * * *" is invalid: minute 61 is out of range 0-59');
    expect(reason("0 24 * * *")).toBe('cron expression "0 24 * * *" is invalid: hour 24 is out of range 0-23');
    expect(reason("0 0 0 * *")).toBe('cron expression "0 0 0 * *" is invalid: day-of-month 0 is out of range 1-31');
    expect(reason("0 0 * 13 *")).toBe('cron expression "0 0 * 13 *" is invalid: month 13 is out of range 1-12');
    expect(reason("0 0 * * 8")).toBe('cron expression "0 0 * * 8" is invalid: day-of-week 8 is out of range 0-7');
    expect(reason("*/90 * * * *")).toBe(
      'cron expression "*/90 * * * *" is invalid: minute step 90 is out of range 1-59',
    );
    expect(reason("*/0 * * * *")).toBe('cron expression "*/0 * * * *" is invalid: minute step 0 is out of range 1-59');
    expect(reason("10-5 * * * *")).toBe(
      'cron expression "10-5 * * * *" is invalid: minute range 10-5 runs backwards (ranges do not wrap; write 10-59,0-5)',
    );
    expect(reason("0 0 * * FRI-SUN")).toContain("day-of-week range FRI-SUN runs backwards");
  });
  test("Quartz and croner extras: ? L W LW # 5L +MON", () => {
    for (const expression of ["0 0 ? * *", "0 0 L * *", "0 0 15W * *", "0 0 LW * *", "0 0 * * 5#3", "0 0 * * 5L"])
      expect(reason(expression)).toContain("is a Quartz extension cron does not have");
    expect(reason("0 0 * * +MON")).toContain('day-of-week "+MON" is not a number in 0-7 or a name SUN-SAT');
    expect(reason("0 0 * * MONDAY")).toContain('day-of-week "MONDAY" is not a number in 0-7 or a name SUN-SAT');
    expect(reason("0 0 * FOO *")).toContain('month "FOO" is not a number in 1-12 or a name JAN-DEC');
    expect(reason("0 MON * * *")).toContain('hour "MON" is not a number in 0-23');
  });
  test("@reboot has no slot; unknown macros and field counts are named", () => {
    expect(reason("@reboot")).toContain("@reboot has no time to fire at");
    expect(reason("@every 5m")).toContain('unknown macro "@every"');
    expect(reason("@daily 5")).toContain("@daily stands for all five fields; nothing may follow it");
    expect(reason(" @DAILY ")).toBe("ok");
    expect(reason("* * * *")).toContain("has 4 fields");
    expect(reason("* * * * * * *")).toContain("has 7 fields");
    expect(reason("")).toContain("is empty");
    expect(reason("1,,2 * * * *")).toContain('minute "" is not a number in 0-59');
  });
});

describe("the search's ends", () => {
  test("29 February only: found across the years between leap days, none past 9999", () => {
    expect(fires("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 2)).toEqual([
      "2028-02-29T00:00:00Z",
      "2032-02-29T00:00:00Z",
    ]);
    // Both day fields apply (one starts with *): 29 February on a Sunday, 2032 then 2060.
    expect(fires("0 0 29 2 */7", "UTC", "2026-01-01T00:00:00Z", 2)).toEqual([
      "2032-02-29T00:00:00Z",
      "2060-02-29T00:00:00Z",
    ]);
    const compiled = compileCron("0 0 29 2 *", null);
    expect(compiled.ok && compiled.schedule.nextAfter(Date.parse("9996-03-01T00:00:00Z"))).toBeNull();
  });
});

describe("the compiled-schedule cache", () => {
  test("a NULL zone (UTC) and an empty zone (unknown) are different schedules", () => {
    expect(scheduleOf({ intervalSeconds: null, cronExpression: "0 9 * * *", timezone: null }).ok).toBe(true);
    const empty = scheduleOf({ intervalSeconds: null, cronExpression: "0 9 * * *", timezone: "" });
    expect(empty.ok ? "ok" : empty.reason).toStartWith('unknown time zone ""');
  });
});
