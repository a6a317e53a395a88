/**
 * docs/contract.md §3: the DST rules across the 2026 transitions of four zones, for hourly,
 * daily and every-15-minute schedules, as exact tables and as properties checked against an
 * independent oracle (a minute-by-minute scan with hand-written matchers).
 */
import { describe, expect, test } from "bun:test";
import { compileCron, instantsOf, wallTime, zoneOffsetMs } from "../../src/schedule/cron.ts";
import { fires } from "../support/schedule.ts";

describe("Europe/Berlin 2026 (02:00→03:00 on 29 March, 03:00→02:00 on 25 October)", () => {
  test("a daily 02:30 that does not exist fires at 03:00 CEST, the first instant after the gap", () => {
    expect(fires("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3)).toEqual([
      "2026-03-29T01:00:00Z",
      "2026-03-30T00:30:00Z",
      "2026-03-31T00:30:00Z",
    ]);
  });
  test("a daily 02:30 that happens twice fires once, at the first (CEST) occurrence", () => {
    expect(fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 3)).toEqual([
      "2026-10-25T00:30:00Z",
      "2026-10-26T01:30:00Z",
      "2026-10-27T01:30:00Z",
    ]);
  });
  test("hourly: 02:00 is missing in spring (one fire at 03:00) and fires once in autumn", () => {
    expect(fires("0 * * * *", "Europe/Berlin", "2026-03-28T23:30:00Z", 3)).toEqual([
      "2026-03-29T00:00:00Z",
      "2026-03-29T01:00:00Z",
      "2026-03-29T02:00:00Z",
    ]);
    expect(fires("0 * * * *", "Europe/Berlin", "2026-10-24T22:30:00Z", 4)).toEqual([
      "2026-10-24T23:00:00Z",
      "2026-10-25T00:00:00Z",
      "2026-10-25T02:00:00Z",
      "2026-10-25T03:00:00Z",
    ]);
  });
  test("*/15: the gap collapses into 03:00; the repeated quarter hours fire only in CEST", () => {
    expect(fires("*/15 * * * *", "Europe/Berlin", "2026-03-29T00:40:00Z", 3)).toEqual([
      "2026-03-29T00:45:00Z",
      "2026-03-29T01:00:00Z",
      "2026-03-29T01:15:00Z",
    ]);
    expect(fires("*/15 * * * *", "Europe/Berlin", "2026-10-25T00:40:00Z", 3)).toEqual([
      "2026-10-25T00:45:00Z",
      "2026-10-25T02:00:00Z",
      "2026-10-25T02:15:00Z",
    ]);
  });
  test("from inside the second pass of the repeated hour, the next fire is after it", () => {
    expect(fires("*/15 * * * *", "Europe/Berlin", "2026-10-25T01:20:00Z", 2)).toEqual([
      "2026-10-25T02:00:00Z",
      "2026-10-25T02:15:00Z",
    ]);
    expect(fires("* * * * * *", "Europe/Berlin", "2026-10-25T01:59:58Z", 2)).toEqual([
      "2026-10-25T02:00:00Z",
      "2026-10-25T02:00:01Z",
    ]);
  });
});

describe("America/New_York 2026 (8 March, 1 November)", () => {
  test("daily 02:30 fires at 03:00 EDT on 8 March", () => {
    expect(fires("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2)).toEqual([
      "2026-03-08T07:00:00Z",
      "2026-03-09T06:30:00Z",
    ]);
  });
  test("daily 01:30 fires once, in EDT, on 1 November", () => {
    expect(fires("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2)).toEqual([
      "2026-11-01T05:30:00Z",
      "2026-11-02T06:30:00Z",
    ]);
  });
  test("hourly: 01:00 fires once on 1 November, 02:00 does not exist on 8 March", () => {
    expect(fires("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", 3)).toEqual([
      "2026-11-01T05:00:00Z",
      "2026-11-01T07:00:00Z",
      "2026-11-01T08:00:00Z",
    ]);
    expect(fires("0 * * * *", "America/New_York", "2026-03-08T05:30:00Z", 3)).toEqual([
      "2026-03-08T06:00:00Z",
      "2026-03-08T07:00:00Z",
      "2026-03-08T08:00:00Z",
    ]);
  });
  test("*/15 on both days", () => {
    expect(fires("*/15 * * * *", "America/New_York", "2026-03-08T06:40:00Z", 3)).toEqual([
      "2026-03-08T06:45:00Z",
      "2026-03-08T07:00:00Z",
      "2026-03-08T07:15:00Z",
    ]);
    expect(fires("*/15 * * * *", "America/New_York", "2026-11-01T05:40:00Z", 3)).toEqual([
      "2026-11-01T05:45:00Z",
      "2026-11-01T07:00:00Z",
      "2026-11-01T07:15:00Z",
    ]);
  });
});

describe("Australia/Lord_Howe 2026 (a 30-minute shift: 02:00→01:30 on 5 April, 02:00→02:30 on 4 October)", () => {
  test("hourly: 02:00 is in the 30-minute gap and fires at 02:30, then 03:00", () => {
    expect(fires("0 * * * *", "Australia/Lord_Howe", "2026-10-03T13:30:00Z", 4)).toEqual([
      "2026-10-03T14:30:00Z",
      "2026-10-03T15:30:00Z",
      "2026-10-03T16:00:00Z",
      "2026-10-03T17:00:00Z",
    ]);
  });
  test("daily 02:00 fires at 02:30 on 4 October", () => {
    expect(fires("0 2 * * *", "Australia/Lord_Howe", "2026-10-02T12:00:00Z", 3)).toEqual([
      "2026-10-02T15:30:00Z",
      "2026-10-03T15:30:00Z",
      "2026-10-04T15:00:00Z",
    ]);
  });
  test("daily 01:45 fires once on 5 April, at its first (+11:00) occurrence", () => {
    expect(fires("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", 2)).toEqual([
      "2026-04-04T14:45:00Z",
      "2026-04-05T15:15:00Z",
    ]);
  });
  test("*/15: 02:00 and 02:15 collapse into 02:30 in October; 01:30 and 01:45 fire once in April", () => {
    expect(fires("*/15 * * * *", "Australia/Lord_Howe", "2026-10-03T15:10:00Z", 3)).toEqual([
      "2026-10-03T15:15:00Z",
      "2026-10-03T15:30:00Z",
      "2026-10-03T15:45:00Z",
    ]);
    expect(fires("*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T14:20:00Z", 4)).toEqual([
      "2026-04-04T14:30:00Z",
      "2026-04-04T14:45:00Z",
      "2026-04-04T15:30:00Z",
      "2026-04-04T15:45:00Z",
    ]);
  });
});

describe("Asia/Kathmandu (+05:45, no DST)", () => {
  test("daily 09:00 is 03:15Z, hourly is at :15 past the UTC hour", () => {
    expect(fires("0 9 * * *", "Asia/Kathmandu", "2026-01-01T00:00:00Z", 2)).toEqual([
      "2026-01-01T03:15:00Z",
      "2026-01-02T03:15:00Z",
    ]);
    expect(fires("0 * * * *", "Asia/Kathmandu", "2026-06-01T00:00:00Z", 2)).toEqual([
      "2026-06-01T00:15:00Z",
      "2026-06-01T01:15:00Z",
    ]);
    expect(fires("*/15 * * * *", "Asia/Kathmandu", "2026-06-01T00:01:00Z", 2)).toEqual([
      "2026-06-01T00:15:00Z",
      "2026-06-01T00:30:00Z",
    ]);
  });
});

describe("the expression language", () => {
  test("names, ranges, steps, lists, an optional seconds field, and day-of-month OR day-of-week", () => {
    expect(fires("0 9 * * MON-FRI", "UTC", "2026-01-02T10:00:00Z", 2)).toEqual([
      "2026-01-05T09:00:00Z",
      "2026-01-06T09:00:00Z",
    ]);
    expect(fires("0 0 1 JAN,JUL *", "UTC", "2026-01-02T00:00:00Z", 2)).toEqual([
      "2026-07-01T00:00:00Z",
      "2027-01-01T00:00:00Z",
    ]);
    expect(fires("10-20/5 * * * *", "UTC", "2026-01-01T00:00:00Z", 4)).toEqual([
      "2026-01-01T00:10:00Z",
      "2026-01-01T00:15:00Z",
      "2026-01-01T00:20:00Z",
      "2026-01-01T01:10:00Z",
    ]);
    expect(fires("*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z", 3)).toEqual([
      "2026-01-01T00:00:20Z",
      "2026-01-01T00:00:40Z",
      "2026-01-01T00:01:00Z",
    ]);
    expect(fires("0 9 1 * MON", "UTC", "2026-01-01T00:00:00Z", 3)).toEqual([
      "2026-01-01T09:00:00Z",
      "2026-01-05T09:00:00Z",
      "2026-01-12T09:00:00Z",
    ]);
  });
  test("NULL time zone is UTC", () => {
    const compiled = compileCron("0 9 * * *", null);
    expect(compiled.ok && compiled.schedule.timezone).toBe("UTC");
  });
  test("bad expressions and unknown zones come back with a reason, never a throw", () => {
    const reason = (expression: string, zone: string | null = null) => {
      const compiled = compileCron(expression, zone);
      return compiled.ok ? "ok" : compiled.reason;
    };
    expect(reason("61 * * * *")).toBe('cron expression "61 * * * *" is invalid: minute 61 is out of range 0-59');
    expect(reason("* * * *")).toContain('cron expression "* * * *" is invalid');
    expect(reason("* * * * * * *")).toContain("has 7 fields");
    expect(reason("0 9 * * FOO")).toContain('day-of-week "FOO" is not a number in 0-7 or a name SUN-SAT');
    expect(reason("0 0 30 2 *")).toStartWith('cron expression "0 0 30 2 *" never matches a date');
    expect(reason("0 9 * * *", "Mars/Olympus")).toStartWith('unknown time zone "Mars/Olympus"');
    expect(reason("0 9 * * *", "")).toStartWith('unknown time zone ""');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties against an oracle that shares no code with the module: it scans instants minute by
// minute and applies the two rules directly, with matchers written by hand.

const MINUTE = 60_000;
const matchers: Record<string, (minute: number, hour: number) => boolean> = {
  "0 * * * *": (m) => m === 0,
  "30 2 * * *": (m, h) => h === 2 && m === 30,
  "0 2 * * *": (m, h) => h === 2 && m === 0,
  "45 1 * * *": (m, h) => h === 1 && m === 45,
  "*/15 * * * *": (m) => m % 15 === 0,
};
const wallMatches = (expression: string, wallMs: number) => {
  const d = new Date(wallMs);
  return d.getUTCSeconds() === 0 && matchers[expression]!(d.getUTCMinutes(), d.getUTCHours());
};

/** Does instant `t` (a whole minute) fire? Its wall time matches at its first occurrence, or it ends a gap holding a match. */
function oracleFires(expression: string, zone: string, t: number): boolean {
  const wall = wallTime(zone, t);
  const previous = wallTime(zone, t - MINUTE);
  if (wall - previous > MINUTE) {
    for (let w = previous + MINUTE; w <= wall; w += MINUTE) if (wallMatches(expression, w)) return true;
    return false;
  }
  if (!wallMatches(expression, wall)) return false;
  // An earlier instant with the same wall time (a fall back of 30 or 60 minutes) fired instead.
  return wallTime(zone, t - 30 * MINUTE) !== wall && wallTime(zone, t - 60 * MINUTE) !== wall;
}

function oracleNext(expression: string, zone: string, afterMs: number): number {
  for (let t = Math.floor(afterMs / MINUTE) * MINUTE + MINUTE; ; t += MINUTE)
    if (oracleFires(expression, zone, t)) return t;
}

/** A small seeded generator, so a failure is reproducible. */
function random(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

const TRANSITIONS: Record<string, string[]> = {
  "Europe/Berlin": ["2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"],
  "America/New_York": ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"],
  "Australia/Lord_Howe": ["2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"],
  "Asia/Kathmandu": ["2026-03-29T01:00:00Z"],
};
const DAILY: Record<string, string[]> = {
  "Europe/Berlin": ["30 2 * * *"],
  "America/New_York": ["30 2 * * *"],
  "Australia/Lord_Howe": ["0 2 * * *", "45 1 * * *"],
  "Asia/Kathmandu": ["30 2 * * *"],
};

describe("properties around every 2026 transition (oracle: a minute-by-minute scan)", () => {
  for (const [zone, transitions] of Object.entries(TRANSITIONS)) {
    for (const expression of ["0 * * * *", "*/15 * * * *", ...DAILY[zone]!]) {
      test(`${zone} "${expression}": each next fire is the oracle's, later than the instant asked about, and a fire sequence never repeats a wall time`, () => {
        const compiled = compileCron(expression, zone);
        if (!compiled.ok) throw new Error(compiled.reason);
        const next = random(expression.length * 7919 + zone.length);
        const daily = !expression.includes("*/") && !expression.startsWith("0 *");
        for (const at of transitions) {
          const center = Date.parse(at);
          for (let sample = 0; sample < (daily ? 6 : 25); sample++) {
            const after = center + Math.floor(((next() - 0.5) * 6 * 3_600_000) / 1000) * 1000;
            const fire = compiled.schedule.nextAfter(after)!;
            expect({ after, fire: new Date(fire).toISOString() }).toEqual({
              after,
              fire: new Date(oracleNext(expression, zone, after)).toISOString(),
            });
            expect(fire).toBeGreaterThan(after);
          }
          // A walk through the transition: strictly increasing, each wall time at most once.
          const seen = new Set<number>();
          let t = center - 4 * 3_600_000;
          for (let i = 0; i < (daily ? 3 : 24); i++) {
            const fire = compiled.schedule.nextAfter(t)!;
            expect(fire).toBeGreaterThan(t);
            const wall = wallTime(zone, fire);
            expect(seen.has(wall)).toBe(false);
            seen.add(wall);
            t = fire;
          }
        }
      });
    }
  }
});

describe("zone arithmetic", () => {
  test("offsets, and the instants of a wall time: one, two in an overlap, none in a gap", () => {
    expect(zoneOffsetMs("Asia/Kathmandu", Date.parse("2026-06-01T00:00:00Z"))).toBe((5 * 60 + 45) * MINUTE);
    expect(zoneOffsetMs("Australia/Lord_Howe", Date.parse("2026-06-01T00:00:00Z"))).toBe(10.5 * 60 * MINUTE);
    expect(
      instantsOf("Europe/Berlin", Date.parse("2026-10-25T02:30:00Z")).map((t) => new Date(t).toISOString()),
    ).toEqual(["2026-10-25T00:30:00.000Z", "2026-10-25T01:30:00.000Z"]);
    expect(instantsOf("Europe/Berlin", Date.parse("2026-03-29T02:30:00Z"))).toEqual([]);
    expect(instantsOf("Europe/Berlin", Date.parse("2026-06-01T12:00:00Z"))).toEqual([
      Date.parse("2026-06-01T10:00:00Z"),
    ]);
  });
});
