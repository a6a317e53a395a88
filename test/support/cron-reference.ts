/**
 * A reference for cron schedules written from the documented rules, sharing no code with
 * src/schedule: a generator of expressions that knows, from how it built each field, which
 * values the field holds; and a brute force that walks the wall-clock times of the days that
 * match, in order, and maps each to the instant it fires at through Intl:
 *   - a wall time that happens once fires then; one that happens twice fires at the first;
 *   - one that does not exist (a gap) fires at the first instant after the gap, and every wall
 *     time of one gap is that one fire.
 * Assumes at most one offset change in any 30 hours, true of every zone used here.
 */

const SECOND = 1_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** What an expression means, as its generator built it. */
export interface CronCase {
  readonly expression: string;
  /** null: five fields, fires at second 0. */
  readonly seconds: ReadonlySet<number> | null;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0-6, Sunday 0. */
  readonly weekdays: ReadonlySet<number>;
  /** A day field written starting with `*`: a day must match both day fields, else either. */
  readonly both: boolean;
}

/** A seeded generator (mulberry32), so a failure is reproducible from its seed. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type Random = () => number;
const int = (random: Random, low: number, high: number) => low + Math.floor(random() * (high - low + 1));
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

interface Field {
  readonly low: number;
  readonly high: number;
  /** Values a single element favours (month ends for days, a few hours). */
  readonly favoured: readonly number[];
  readonly name?: (value: number) => string | null;
}

const randomCase = (random: Random, text: string) =>
  random() < 0.5 ? text : random() < 0.5 ? text.toLowerCase() : text[0] + text.slice(1).toLowerCase();
const FIELDS: Record<string, Field> = {
  second: { low: 0, high: 59, favoured: [0, 30, 59] },
  minute: { low: 0, high: 59, favoured: [0, 15, 30, 45, 59] },
  hour: { low: 0, high: 23, favoured: [0, 1, 2, 3, 23] },
  day: { low: 1, high: 31, favoured: [1, 2, 28, 29, 30, 31] },
  month: { low: 1, high: 12, favoured: [1, 2, 3, 12], name: (v) => MONTH_NAMES[v - 1]! },
  weekday: { low: 0, high: 7, favoured: [0, 1, 5, 6, 7], name: (v) => (v === 7 ? null : DAY_NAMES[v]!) },
};

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** One field: its text and its values. `density` 0..1 makes `*` and small steps likelier. */
function field(random: Random, spec: Field, density: number): { text: string; values: Set<number> } {
  const value = () => (random() < 0.6 ? pick(random, spec.favoured) : int(random, spec.low, spec.high));
  const show = (v: number) => {
    const name = spec.name && random() < 0.4 ? spec.name(v) : null;
    return name ? randomCase(random, name) : String(v);
  };
  const element = (): { text: string; values: number[] } => {
    const kind = random();
    if (kind < 0.35) {
      const v = value();
      return { text: show(v), values: [v] };
    }
    if (kind < 0.55) {
      const a = value();
      const b = int(random, a, spec.high);
      const step = random() < 0.5 ? 0 : int(random, 1, spec.high - spec.low);
      return { text: `${show(a)}-${show(b)}${step ? `/${step}` : ""}`, values: range(a, b, step || 1) };
    }
    if (kind < 0.7) {
      const a = value();
      const step = int(random, 1, spec.high - spec.low);
      return { text: `${show(a)}/${step}`, values: range(a, spec.high, step) };
    }
    const step = int(random, 1, Math.max(1, Math.round((spec.high - spec.low) * (1 - density) * 0.6)));
    return { text: `*/${step}`, values: range(spec.low, spec.high, step) };
  };
  if (random() < density) return { text: "*", values: new Set(range(spec.low, spec.high, 1)) };
  const count = random() < 0.6 ? 1 : int(random, 2, 4);
  const parts = Array.from({ length: count }, element);
  return { text: parts.map((p) => p.text).join(","), values: new Set(parts.flatMap((p) => p.values)) };
}

const MACROS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/** A random expression, biased to day-of-month lists at month ends and restricted day fields. */
export function generateCase(random: Random): CronCase {
  const macro = random() < 0.03 ? pick(random, Object.keys(MACROS)) : null;
  if (macro) {
    const [m, h, d, mo, w] = MACROS[macro]!.split(" ");
    const all = (low: number, high: number) => new Set(range(low, high, 1));
    const one = (text: string, low: number, high: number) => (text === "*" ? all(low, high) : new Set([Number(text)]));
    return {
      expression: macro,
      seconds: null,
      minutes: one(m!, 0, 59),
      hours: one(h!, 0, 23),
      days: one(d!, 1, 31),
      months: one(mo!, 1, 12),
      weekdays: one(w!, 0, 6),
      both: d === "*" || w === "*",
    };
  }
  const sixFields = random() < 0.15;
  const seconds = sixFields ? field(random, FIELDS.second!, 0.15) : null;
  const minutes = field(random, FIELDS.minute!, sixFields ? 0.05 : 0.15);
  const hours = field(random, FIELDS.hour!, 0.25);
  const days = field(random, FIELDS.day!, 0.35);
  const months = field(random, FIELDS.month!, 0.6);
  const weekdays = field(random, FIELDS.weekday!, 0.55);
  const sunday = weekdays.values.has(7);
  const weekdaySet = new Set([...weekdays.values].filter((v) => v !== 7));
  if (sunday) weekdaySet.add(0);
  const texts = [seconds?.text, minutes.text, hours.text, days.text, months.text, weekdays.text].filter(
    (t) => t !== undefined,
  );
  return {
    expression: texts.join(random() < 0.1 ? "  " : " "),
    seconds: seconds?.values ?? null,
    minutes: minutes.values,
    hours: hours.values,
    days: days.values,
    months: months.values,
    weekdays: weekdaySet,
    both: days.text.startsWith("*") || weekdays.text.startsWith("*"),
  };
}

// --- zone arithmetic through Intl -----------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsets = new Map<string, Map<number, number>>();

/** The zone's offset (wall − UTC, ms) at an instant. */
export function offsetAt(zone: string, instant: number): number {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, formatter);
  }
  const at = Math.floor(instant / SECOND) * SECOND;
  const p: Record<string, number> = {};
  for (const part of formatter.formatToParts(at)) p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - at;
}

/** The offset at a whole hour, remembered: the brute force samples the same hours again and again. */
function hourOffset(zone: string, hourInstant: number): number {
  let byHour = offsets.get(zone);
  if (!byHour) offsets.set(zone, (byHour = new Map()));
  let offset = byHour.get(hourInstant);
  if (offset === undefined) {
    if (byHour.size > 200_000) byHour.clear();
    offset = offsetAt(zone, hourInstant);
    byHour.set(hourInstant, offset);
  }
  return offset;
}

/** The first whole second in (low, high] with the offset at high (an offset change lies there). */
function changeIn(zone: string, low: number, high: number): number {
  const after = offsetAt(zone, high);
  while (high - low > SECOND) {
    const mid = low + Math.floor((high - low) / 2 / SECOND) * SECOND;
    if (offsetAt(zone, mid) === after) high = mid;
    else low = mid;
  }
  return high;
}

/** The offset changes of a zone in [from, to), found by a day-by-day scan. */
export function transitions(zone: string, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = from; t < to; t += DAY)
    if (hourOffset(zone, t) !== hourOffset(zone, t + DAY)) out.push(changeIn(zone, t, t + DAY));
  return out;
}

/**
 * Maps wall times to fire instants. Near an offset change (located once per 30-hour window), a
 * wall time W has the instant W − early if that is before the change, W − late if that is at or
 * after it: both in an overlap (the first fires), neither in a gap (the change fires).
 */
function fireMapper(zone: string) {
  const changes = new Map<number, number>();
  return (wall: number): number => {
    const before = Math.floor((wall - 15 * HOUR) / HOUR) * HOUR;
    const after = before + 31 * HOUR;
    const early = hourOffset(zone, before);
    const late = hourOffset(zone, after);
    if (early === late) return wall - early;
    let change = changes.get(before);
    if (change === undefined) changes.set(before, (change = changeIn(zone, before, after)));
    const first = wall - early < change ? wall - early : null;
    const second = wall - late >= change ? wall - late : null;
    return first ?? second ?? change;
  };
}

// --- the brute force ------------------------------------------------------------------------

function wallDate(wall: number) {
  const d = new Date(wall);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: d.getUTCDay() };
}

/** Whether a wall-clock day matches: its month, and its date and weekday by the day rule. */
function dayMatches(c: CronCase, wallMidnight: number): boolean {
  const { month, day, weekday } = wallDate(wallMidnight);
  if (!c.months.has(month)) return false;
  const byDate = c.days.has(day);
  const byWeekday = c.weekdays.has(weekday);
  return c.both ? byDate && byWeekday : byDate || byWeekday;
}

const sorted = (values: ReadonlySet<number>) => [...values].sort((a, b) => a - b);

/**
 * The first `count` fire instants strictly after `after`, walking at most `horizonDays` wall
 * days; fewer when the horizon ends first.
 */
export function referenceFires(c: CronCase, zone: string, after: number, count: number, horizonDays: number): number[] {
  const toFire = fireMapper(zone);
  const hours = sorted(c.hours);
  const minutes = sorted(c.minutes);
  const seconds = c.seconds ? sorted(c.seconds) : [0];
  const out: number[] = [];
  // A wall time before `after`'s own can still fire after it, inside an overlap (an hour at most here).
  const lowest = after + offsetAt(zone, after) - 3 * HOUR;
  const firstDay = Math.floor(lowest / DAY) * DAY;
  for (let midnight = firstDay; midnight < firstDay + horizonDays * DAY; midnight += DAY) {
    if (!dayMatches(c, midnight)) continue;
    for (const h of hours) {
      if (midnight + (h + 1) * HOUR <= lowest) continue;
      for (const m of minutes)
        for (const s of seconds) {
          const fires = toFire(midnight + h * HOUR + m * 60_000 + s * SECOND);
          if (fires <= after || fires === out[out.length - 1]) continue;
          out.push(fires);
          if (out.length === count) return out;
        }
    }
  }
  return out;
}

/**
 * The jitter rule of docs/design.md §23 rule 5, written again from the text: h = the first 32
 * bits (big-endian) of md5(`<id>:<slot ms>`), offset = ⌊h · jitter ms / 2^32⌋.
 */
export function referenceJitterMs(id: number, slotMs: number, jitterSeconds: number): number {
  if (jitterSeconds <= 0) return 0;
  const hex = new Bun.CryptoHasher("md5")
    .update(`${id}:${Math.floor(slotMs)}`)
    .digest("hex")
    .slice(0, 8);
  return Number((BigInt(`0x${hex}`) * BigInt(jitterSeconds * 1000)) / 2n ** 32n);
}
