/**
 * Pure: the wall-clock times a cron expression matches, found day by day. Wall times are
 * milliseconds read as UTC (no zone here). A search skips a month outside the month field in
 * one step and a day that does not match in one step, so a sparse expression costs a few
 * hundred steps a year; a day of the month that does not exist is just a day that does not
 * match, and the search goes on into the next month from its first day.
 */
import type { CronFields } from "./cron-fields.ts";

const SECOND = 1_000;
const LAST_YEAR = 9999;

/** For each value 0..size, the first allowed value at or after it (size past the last: −1). */
function nextTable(allowed: readonly boolean[], size: number): Int8Array {
  const table = new Int8Array(size + 1).fill(-1);
  for (let value = size - 1; value >= 0; value--) table[value] = allowed[value] ? value : table[value + 1]!;
  return table;
}

/** Midnight of a date as wall ms; unlike Date.UTC, years 0-99 are not read as 1900-1999. */
function midnight(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime();
}

function daysIn(year: number, month: number): number {
  return new Date(midnight(year, month + 1, 0)).getUTCDate();
}

/** Whether a day matches the day fields: by Vixie's rule, both or either (see {@link CronFields.bothDaysMustMatch}). */
export function dayMatches(fields: CronFields, year: number, month: number, day: number): boolean {
  if (!fields.month[month] || day > daysIn(year, month)) return false;
  const byDate = fields.dayOfMonth[day] === true;
  const byWeekday = fields.dayOfWeek[new Date(midnight(year, month, day)).getUTCDay()] === true;
  return fields.bothDaysMustMatch ? byDate && byWeekday : byDate || byWeekday;
}

/**
 * Whether some date matches. Either day field alone always meets every weekday within a few
 * years (29 February too, across the 400-year cycle), so only "both must match" can fail, and
 * only when no listed day of the month exists in a listed month.
 */
export function matchesSomeDate(fields: CronFields): boolean {
  if (!fields.bothDaysMustMatch) return true;
  const longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  for (let month = 1; month <= 12; month++) {
    if (!fields.month[month]) continue;
    for (let day = 1; day <= longest[month]!; day++) if (fields.dayOfMonth[day]) return true;
  }
  return false;
}

interface WallMatcher {
  /** The first matching wall time strictly after `wallMs` (a whole second), or null past year 9999. */
  nextAfter(wallMs: number): number | null;
}

export function wallMatcher(fields: CronFields): WallMatcher {
  const seconds = nextTable(fields.second, 60);
  const minutes = nextTable(fields.minute, 60);
  const hours = nextTable(fields.hour, 24);
  const firstMinute = minutes[0]!;
  const firstSecond = seconds[0]!;

  /** The first matching time of day at or after h:m:s, as seconds into the day, or −1. */
  const timeOfDay = (h: number, m: number, s: number): number => {
    const hour = hours[h]!;
    if (hour < 0) return -1;
    if (hour > h) return hour * 3600 + firstMinute * 60 + firstSecond;
    const minute = minutes[m]!;
    if (minute === m && seconds[s]! >= 0) return hour * 3600 + minute * 60 + seconds[s]!;
    const later = minute === m ? minutes[m + 1]! : minute;
    if (later >= 0) return hour * 3600 + later * 60 + firstSecond;
    const nextHour = hours[h + 1]!;
    return nextHour < 0 ? -1 : nextHour * 3600 + firstMinute * 60 + firstSecond;
  };

  return {
    nextAfter(wallMs) {
      const start = new Date(Math.floor(wallMs / SECOND) * SECOND + SECOND);
      let year = start.getUTCFullYear();
      let month = start.getUTCMonth() + 1;
      let day = start.getUTCDate();
      let h = start.getUTCHours();
      let m = start.getUTCMinutes();
      let s = start.getUTCSeconds();
      while (year <= LAST_YEAR) {
        if (!fields.month[month] || day > daysIn(year, month)) {
          month += 1;
          if (month > 12) {
            month = 1;
            year += 1;
          }
          day = 1;
          h = m = s = 0;
          continue;
        }
        if (dayMatches(fields, year, month, day)) {
          const at = timeOfDay(h, m, s);
          if (at >= 0) return midnight(year, month, day) + at * SECOND;
        }
        day += 1;
        h = m = s = 0;
      }
      return null;
    },
  };
}
