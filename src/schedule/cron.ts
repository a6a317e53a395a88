/**
 * Pure: cron expressions in an IANA time zone, with the DST rules of docs/contract.md §3.
 *
 * cron-fields.ts reads the expression as cronie does and cron-match.ts walks its matches in
 * WALL-CLOCK time (no zone, so it never sees a transition); this module maps each wall time to
 * the instant it fires at:
 *   - a wall time that happens twice (fall back) fires once, at its FIRST occurrence;
 *   - a wall time that does not exist (spring forward) fires at the first instant after the gap.
 * That mapping never decreases as the wall time grows, so "the first match after an instant" is
 * the first wall-clock match whose instant is later; wall times inside one gap collapse into one
 * fire. Zone offsets come from Intl (the ICU data inside the Bun runtime), never from the host.
 */
import { parseCron } from "./cron-fields.ts";
import { matchesSomeDate, wallMatcher } from "./cron-match.ts";

const SECOND = 1_000;
const DAY = 86_400_000;

/** A compiled schedule: the expression, its zone, and its fire times. */
export interface CronSchedule {
  readonly expression: string;
  /** The IANA zone as given (NULL in the row is "UTC"). */
  readonly timezone: string;
  /** The first fire time strictly after `afterMs`, or null when there is none (past year 9999). */
  nextAfter(afterMs: number): number | null;
}

type CompiledCron =
  | { readonly ok: true; readonly schedule: CronSchedule }
  | { readonly ok: false; readonly reason: string };

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A formatter of wall-clock fields in `zone`; throws RangeError for a zone the runtime does not know. */
function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      era: "short",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** The zone's UTC offset at an instant, in ms (wall clock − UTC), at whole-second precision. */
export function zoneOffsetMs(zone: string, instantMs: number): number {
  const at = Math.floor(instantMs / SECOND) * SECOND;
  const formatter = formatterFor(zone);
  // The whole string and one pattern are cheaper than formatToParts, and every search calls this
  // several times per fire; the parts stay the fallback should ICU ever print it otherwise.
  const text = SHAPE.exec(formatter.format(at));
  const fields: Record<string, string | undefined> = {};
  if (text) {
    [, fields.month, fields.day, fields.year, fields.era, fields.hour, fields.minute, fields.second] = text;
  } else for (const part of formatter.formatToParts(at)) fields[part.type] = part.value;
  const year = fields.era === "BC" || fields.era === "B" ? 1 - Number(fields.year) : Number(fields.year);
  const wall = new Date(0);
  wall.setUTCFullYear(year, Number(fields.month) - 1, Number(fields.day));
  wall.setUTCHours(Number(fields.hour), Number(fields.minute), Number(fields.second), 0);
  return wall.getTime() - at;
}

/** How en-US prints the fields of {@link formatterFor}: `11/14/2023 AD, 23:13:20`. */
const SHAPE = /^(\d+)\/(\d+)\/(\d+) (AD|BC|A|B), (\d+):(\d+):(\d+)$/;

/** The wall time (as if UTC) of an instant in `zone`. */
export function wallTime(zone: string, instantMs: number): number {
  return instantMs + zoneOffsetMs(zone, instantMs);
}

/** The first whole second in (lo, hi] whose offset differs from the offset at lo (a transition). */
function transitionIn(zone: string, lo: number, hi: number): number {
  const before = zoneOffsetMs(zone, lo);
  let low = Math.floor(lo / SECOND) * SECOND;
  let high = Math.ceil(hi / SECOND) * SECOND;
  while (high - low > SECOND) {
    const mid = low + Math.floor((high - low) / 2 / SECOND) * SECOND;
    if (zoneOffsetMs(zone, mid) === before) low = mid;
    else high = mid;
  }
  return high;
}

/** Every instant whose wall time in `zone` is `wallMs`, earliest first: none (a gap), one, or two (an overlap). */
export function instantsOf(zone: string, wallMs: number): number[] {
  // Most wall times are a day or more from any transition: one offset either side settles it.
  const early = zoneOffsetMs(zone, wallMs - DAY);
  if (early === zoneOffsetMs(zone, wallMs + DAY) && zoneOffsetMs(zone, wallMs - early) === early)
    return [wallMs - early];
  const offsets = new Set([
    zoneOffsetMs(zone, wallMs - DAY),
    zoneOffsetMs(zone, wallMs),
    zoneOffsetMs(zone, wallMs + DAY),
  ]);
  const found = new Set<number>();
  for (const offset of offsets) {
    const instant = wallMs - offset;
    if (zoneOffsetMs(zone, instant) === offset) found.add(instant);
  }
  return [...found].sort((a, b) => a - b);
}

/**
 * The instant a wall time fires at: its first occurrence, or, inside a gap, the first instant
 * after the gap (the transition itself).
 */
function fireInstant(zone: string, wallMs: number): number {
  const [first] = instantsOf(zone, wallMs);
  if (first !== undefined) return first;
  const before = zoneOffsetMs(zone, wallMs - DAY);
  const after = zoneOffsetMs(zone, wallMs + DAY);
  // In a gap the offset grows from `before` to `after`: the transition lies in (wall − after, wall − before].
  return after > before ? transitionIn(zone, wallMs - after, wallMs - before) : wallMs - before;
}

/** Whether the runtime knows `zone`; the reason when it does not. */
function checkZone(zone: string): string | null {
  try {
    formatterFor(zone);
    return null;
  } catch (error) {
    return `unknown time zone ${JSON.stringify(zone)} (${(error as Error).message})`;
  }
}

/** The most wall-clock matches {@link CronSchedule.nextAfter} looks at before it gives up. */
const MAX_STEPS = 10_000;

/**
 * The one key of a compiled (expression, zone) pair, for every cache and lookup of them: a NULL
 * zone (UTC) and an empty one (unknown, so invalid) are different keys.
 */
export function cronKey(expression: string, timezone: string | null): string {
  return JSON.stringify([expression, timezone]);
}

/**
 * Compiles `expression` (cronie's syntax, see cron-fields.ts; 5 fields, or 6 with seconds
 * first) for `timezone` (NULL: UTC). Never throws: a bad expression, an unknown zone or an
 * expression that never matches comes back as a reason.
 */
export function compileCron(expression: string, timezone: string | null): CompiledCron {
  const zone = timezone ?? "UTC";
  const zoneProblem = checkZone(zone);
  if (zoneProblem) return { ok: false, reason: zoneProblem };
  const parsed = parseCron(expression);
  if (!parsed.ok)
    return { ok: false, reason: `cron expression ${JSON.stringify(expression)} is invalid: ${parsed.reason}` };
  // Only "both day fields must match" can fail to match (see matchesSomeDate).
  if (!matchesSomeDate(parsed.fields))
    return {
      ok: false,
      reason: `cron expression ${JSON.stringify(expression)} never matches a date: no day of the month it names exists in the months it names, and with a day field starting with "*" the day of the month must match too`,
    };
  const matcher = wallMatcher(parsed.fields);
  const nextWall = (wallMs: number): number | null => matcher.nextAfter(wallMs);
  // Callers walk fire after fire (missed runs, backfill): the wall time of the last fire
  // returned is known, so asking from it costs no zone lookup.
  let lastFire = Number.NaN;
  let lastFireWall = Number.NaN;
  const schedule: CronSchedule = {
    expression,
    timezone: zone,
    nextAfter(afterMs) {
      let wall = afterMs === lastFire ? lastFireWall : wallTime(zone, afterMs);
      for (let step = 0; step < MAX_STEPS; step++) {
        const next = nextWall(wall);
        if (next === null) return null;
        const instants = instantsOf(zone, next);
        const fires = instants[0] ?? fireInstant(zone, next);
        if (fires > afterMs) {
          lastFire = instants[0] === undefined ? Number.NaN : fires;
          lastFireWall = next;
          return fires;
        }
        wall = next;
        // `afterMs` lies in the second pass of a repeated hour: every wall time up to the end of
        // that hour fired at its first pass already. Jump to the hour's end instead of walking it.
        if (instants.length === 2 && instants[1]! > afterMs) {
          const end = transitionIn(zone, instants[0]!, instants[1]!);
          wall = Math.max(wall, wallTime(zone, end - SECOND));
        }
      }
      return null;
    },
  };
  return { ok: true, schedule };
}
