/**
 * The engine's cron schedules against the reference (cron-reference.ts): generated expressions,
 * zones with every kind of transition, starts near transitions and month ends; for each case,
 * the same verdict (valid or never matching) and the same next fire instants.
 */
import { compileCron } from "../../src/schedule/cron.ts";
import { type CronCase, generateCase, referenceFires, seeded, transitions } from "./cron-reference.ts";

export const ZONES = [
  "Australia/Lord_Howe",
  "Asia/Kathmandu",
  "Pacific/Chatham",
  "Africa/Casablanca",
  "America/Santiago",
  "America/Nuuk",
  "America/New_York",
  "Europe/Berlin",
  "UTC",
];

const DAY = 86_400_000;
const FROM = Date.UTC(2024, 0, 1);
const TO = Date.UTC(2031, 0, 1);
/** Far enough for 20 fires of any generated expression but the rarest (29 February on a given weekday). */
const HORIZON_DAYS = 400 * 366;
const FIRES = 20;

export interface Mismatch {
  readonly expression: string;
  readonly zone: string;
  readonly after: string;
  readonly reference: string[] | "never matches";
  readonly engine: string[] | string;
}

const iso = (t: number) => new Date(t).toISOString();

const transitionCache = new Map<string, number[]>();
function transitionsOf(zone: string): number[] {
  let found = transitionCache.get(zone);
  if (!found) transitionCache.set(zone, (found = transitions(zone, FROM, TO)));
  return found;
}

/** A start: near a transition, near a month's end, or anywhere in 2024-2030; sometimes off the whole second. */
function startFor(random: () => number, zone: string): number {
  const kind = random();
  const changes = transitionsOf(zone);
  let base: number;
  if (kind < 0.45 && changes.length > 0) {
    base = changes[Math.floor(random() * changes.length)]! + Math.floor((random() - 0.5) * 6 * 3_600_000);
  } else if (kind < 0.85) {
    const month = Math.floor(random() * 84);
    base = Date.UTC(2024, month + 1, 1) - Math.floor(random() * 3 * DAY) + Math.floor((random() - 0.5) * DAY);
  } else base = FROM + Math.floor(random() * (TO - FROM));
  const second = Math.floor(base / 1000) * 1000;
  return random() < 0.2
    ? second + Math.floor(random() * 1000)
    : random() < 0.5
      ? second
      : Math.floor(base / 60_000) * 60_000;
}

export function compareCase(c: CronCase, zone: string, after: number): Mismatch | null {
  const expected = referenceFires(c, zone, after, FIRES, HORIZON_DAYS);
  const compiled = compileCron(c.expression, zone);
  const at = { expression: c.expression, zone, after: iso(after) };
  if (!compiled.ok) {
    if (expected.length === 0) return null;
    return { ...at, reference: expected.map(iso), engine: compiled.reason };
  }
  if (expected.length === 0) return { ...at, reference: "never matches", engine: "compiles" };
  const actual: number[] = [];
  for (let t: number | null = after; actual.length < expected.length; ) {
    t = compiled.schedule.nextAfter(t);
    if (t === null) break;
    actual.push(t);
  }
  if (actual.length === expected.length && actual.every((t, i) => t === expected[i])) return null;
  return { ...at, reference: expected.map(iso), engine: actual.map(iso) };
}

/** `count` cases from `seed`: how many ran, and the first few that disagreed. */
export function sweep(
  seed: number,
  count: number,
  keep = 10,
): { cases: number; mismatches: number; first: Mismatch[] } {
  const random = seeded(seed);
  const first: Mismatch[] = [];
  let mismatches = 0;
  for (let i = 0; i < count; i++) {
    const c = generateCase(random);
    const zone = ZONES[Math.floor(random() * ZONES.length)]!;
    const found = compareCase(c, zone, startFor(random, zone));
    if (found) {
      mismatches += 1;
      if (first.length < keep) first.push(found);
    }
  }
  return { cases: count, mismatches, first };
}
