/**
 * Pure: a cron expression read as cronie (Vixie cron) reads it, into one set of values per field.
 *
 * Five fields (minute hour day-of-month month day-of-week) or six with seconds first. A field is
 * a comma list of `*`, a value, or a range `a-b`, each optionally stepped (`/n`); `N/n` is
 * `N-last/n`. Month and day-of-week values may be three-letter English names in any case;
 * day-of-week 7 is Sunday, as 0. Everything else (Quartz's `?` `L` `W` `#`, croner's `+`, ranges
 * that wrap, steps no smaller than the field's span) is refused with the field, the value and
 * the allowed range, because a silently different reading would fire at times nobody expected.
 */

/** The values each field allows, as flags indexed by value; `dayOfWeek` folds 7 into 0. */
export interface CronFields {
  readonly second: readonly boolean[];
  readonly minute: readonly boolean[];
  readonly hour: readonly boolean[];
  readonly dayOfMonth: readonly boolean[];
  readonly month: readonly boolean[];
  readonly dayOfWeek: readonly boolean[];
  /**
   * Vixie's rule: a day field whose text starts with `*` counts as unrestricted, and then a day
   * must match both day fields; when neither starts with `*`, matching either is enough.
   */
  readonly bothDaysMustMatch: boolean;
}

type ParsedCron = { readonly ok: true; readonly fields: CronFields } | { readonly ok: false; readonly reason: string };

interface FieldSpec {
  readonly name: string;
  readonly low: number;
  readonly high: number;
  readonly names?: readonly string[];
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const SECOND: FieldSpec = { name: "second", low: 0, high: 59 };
const FIVE: readonly FieldSpec[] = [
  { name: "minute", low: 0, high: 59 },
  { name: "hour", low: 0, high: 23 },
  { name: "day-of-month", low: 1, high: 31 },
  { name: "month", low: 1, high: 12, names: MONTHS },
  { name: "day-of-week", low: 0, high: 7, names: DAYS },
];

/** cronie's macros, as the five fields they stand for. */
const MACROS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/** Quartz's day extras (croner has them too): last day, nearest weekday, nth weekday, "no value". */
const QUARTZ = /^(\?|L|LW|\d+W|\d*L|L-\d+|.*#.*)$/i;

class Refusal extends Error {}

function fieldValue(token: string, spec: FieldSpec): number {
  if (/^\d+$/.test(token)) {
    const value = Number(token);
    if (value < spec.low || value > spec.high)
      throw new Refusal(`${spec.name} ${token} is out of range ${spec.low}-${spec.high}`);
    return value;
  }
  // ASCII letters only: toUpperCase would also turn other scripts' letters into a name ("ſun").
  const index = /^[A-Za-z]{3}$/.test(token) ? (spec.names?.indexOf(token.toUpperCase()) ?? -1) : -1;
  if (index >= 0) return index + (spec.names === MONTHS ? 1 : 0);
  if (spec.names === DAYS || spec.name === "day-of-month") {
    if (QUARTZ.test(token))
      throw new Refusal(
        `${spec.name} "${token}" is a Quartz extension cron does not have (? L W # mean no value, last, weekday, nth); list the days instead`,
      );
  }
  const names = spec.names ? ` or a name ${spec.names[0]}-${spec.names[spec.names.length - 1]}` : "";
  throw new Refusal(`${spec.name} "${token}" is not a number in ${spec.low}-${spec.high}${names}`);
}

/** How to write the wrapping range a user meant: `10-59,0-5`, or `5-7` for FRI-SUN (7 is Sunday). */
function wrapHint(first: number, last: number, spec: FieldSpec): string {
  const tail = spec.names === DAYS ? (last === 0 ? "" : `,1-${last}`) : `,${spec.low}-${last}`;
  return `ranges do not wrap; write ${first}-${spec.high}${tail}`;
}

/** One element of a list: `*`, `v`, `a-b`, each with an optional `/step`, or `N/step`. */
function addElement(element: string, spec: FieldSpec, into: boolean[]): void {
  const slash = element.indexOf("/");
  const base = slash < 0 ? element : element.slice(0, slash);
  let first: number;
  let last: number;
  if (base === "*") {
    first = spec.low;
    last = spec.high;
  } else {
    const dash = base.indexOf("-", 1);
    first = fieldValue(dash < 0 ? base : base.slice(0, dash), spec);
    last = dash < 0 ? (slash < 0 ? first : spec.high) : fieldValue(base.slice(dash + 1), spec);
    if (first > last) throw new Refusal(`${spec.name} range ${base} runs backwards (${wrapHint(first, last, spec)})`);
  }
  let step = 1;
  if (slash >= 0) {
    const text = element.slice(slash + 1);
    const span = spec.high - spec.low;
    if (!/^\d+$/.test(text)) throw new Refusal(`${spec.name} step "${text}" is not a number in 1-${span}`);
    step = Number(text);
    if (step < 1 || step > span) throw new Refusal(`${spec.name} step ${text} is out of range 1-${span}`);
  }
  for (let value = first; value <= last; value += step) into[value] = true;
}

function parseField(text: string, spec: FieldSpec): boolean[] {
  const values = new Array<boolean>(spec.high + 1).fill(false);
  for (const element of text.split(",")) {
    if (element === "") throw new Refusal(`${spec.name} "" is not a number in ${spec.low}-${spec.high}`);
    addElement(element, spec, values);
  }
  return values;
}

/** The field sets of `expression`, or why it is refused (without the "cron expression … is invalid" prefix). */
export function parseCron(expression: string): ParsedCron {
  let text = expression.trim();
  if (text === "") return { ok: false, reason: "it is empty" };
  if (text.startsWith("@")) {
    const [macro, ...rest] = text.split(/\s+/);
    const name = macro!.toLowerCase();
    if (name === "@reboot")
      return { ok: false, reason: "@reboot has no time to fire at: a schedule row needs a time of day" };
    const fields = MACROS[name];
    if (!fields)
      return { ok: false, reason: `unknown macro "${macro}"; the macros are ${Object.keys(MACROS).join(" ")}` };
    if (rest.length > 0) return { ok: false, reason: `${macro} stands for all five fields; nothing may follow it` };
    text = fields;
  }
  const parts = text.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6)
    return {
      ok: false,
      reason: `it has ${parts.length} fields; cron has 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)`,
    };
  const specs = parts.length === 6 ? [SECOND, ...FIVE] : FIVE;
  try {
    const sets = parts.map((part, i) => parseField(part, specs[i]!));
    const [second, minute, hour, dayOfMonth, month, dayOfWeek] = parts.length === 6 ? sets : [[true], ...sets];
    const dayOfWeekSet = dayOfWeek!.slice(0, 7);
    if (dayOfWeek![7]) dayOfWeekSet[0] = true;
    const dayTexts = parts.slice(-3);
    return {
      ok: true,
      fields: {
        second: second!,
        minute: minute!,
        hour: hour!,
        dayOfMonth: dayOfMonth!,
        month: month!,
        dayOfWeek: dayOfWeekSet,
        bothDaysMustMatch: dayTexts[0]!.startsWith("*") || dayTexts[2]!.startsWith("*"),
      },
    };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, reason: error.message };
    throw error;
  }
}
