/**
 * The engine's cron schedules against the reference (cron-reference.ts): generated expressions,
 * zones with every kind of transition, starts near transitions and month ends; for each case,
 * the same verdict (valid or never matching) and the same next fire instants.
 */
import { compileCron } from "../../src/schedule/cron.ts";
import { dueAt } from "../../src/schedule/jitter.ts";
import type { ClaimedRow } from "../../src/schedule/message.ts";
import { planFire, rowUpdate } from "../../src/schedule/plan.ts";
import {
  type CronCase,
  generateCase,
  referenceFires,
  referenceJitterMs,
  seeded,
  transitions,
} from "./cron-reference.ts";

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

/** What a cron row with jitter and an end sends, fire by fire: its slot and when it fired. */
interface Fire {
  readonly slot: string;
  readonly due: string;
}

export interface RunMismatch {
  readonly expression: string;
  readonly zone: string;
  readonly jitterSeconds: number;
  readonly endsAt: string;
  readonly reference: Fire[];
  readonly engine: Fire[] | string;
}

const RUN_FIRES = 60;

/**
 * A cron row from `after` with a jitter shorter than every gap of its next {@link RUN_FIRES}
 * times and an `ends_at` among its first 20: the engine's claims (plan, confirm, write back, each
 * at the slot's jittered time) against the reference's slots up to `ends_at` and their jittered
 * times; the last fire must end the row.
 */
export function compareRun(
  c: CronCase,
  zone: string,
  after: number,
  random: () => number,
): RunMismatch | "not run" | null {
  const slots = referenceFires(c, zone, after, RUN_FIRES, HORIZON_DAYS);
  if (slots.length < RUN_FIRES) return "not run"; // never matches, or too rare to run: compareCase covers it
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < slots.length; i++) gap = Math.min(gap, slots[i]! - slots[i - 1]!);
  const jitterSeconds = Math.floor((random() * (gap - 1)) / 1000);
  const last = Math.floor(random() * 20);
  // ends_at on a slot (which fires), or between it and the next.
  const endsAt =
    random() < 0.5 ? slots[last]! : slots[last]! + Math.floor(random() * (slots[last + 1]! - slots[last]!));
  const id = 1 + Math.floor(random() * 1_000_000);
  const reference = slots.slice(0, last + 1).map((slot) => ({
    slot: iso(slot),
    due: iso(slot + referenceJitterMs(id, slot, jitterSeconds)),
  }));
  const at = { expression: c.expression, zone, jitterSeconds, endsAt: iso(endsAt), reference };
  let row: ClaimedRow = {
    id,
    workflowId: 1,
    slotMs: slots[0]!,
    intervalSeconds: 0,
    cronExpression: c.expression,
    timezone: zone,
    runCount: 0,
    failureCount: 0,
    workflowName: "w",
    workflowData: "{}",
    jitterSeconds,
    endsAtMs: endsAt,
  };
  const engine: Fire[] = [];
  try {
    for (let claims = 0; claims <= last + 1; claims++) {
      const now = dueAt(row.id, row.slotMs, jitterSeconds);
      const plan = planFire(row, now, { misfireGraceMs: 0, maxMessageBytes: 1 << 20 });
      if (plan.kind !== "publish") return { ...at, engine: `slot ${iso(row.slotMs)} was not published: ${plan.kind}` };
      const body = JSON.parse(plan.message.body.toString());
      engine.push({ slot: body.scheduled_for, due: body.due_at ?? body.scheduled_for });
      const update = rowUpdate(plan, { status: "confirmed" }, 0)!;
      if (update.ended) break;
      row = { ...row, slotMs: update.nextMs, runCount: row.runCount + 1 };
    }
  } catch (error) {
    return { ...at, engine: String(error) };
  }
  if (
    engine.length === reference.length &&
    engine.every((f, i) => f.slot === reference[i]!.slot && f.due === reference[i]!.due)
  )
    return null;
  return { ...at, engine };
}

/** `count` runs from `seed` (compareRun): how many ran, and the first few that disagreed. */
export function sweepRuns(
  seed: number,
  count: number,
  keep = 5,
): { runs: number; mismatches: number; first: RunMismatch[] } {
  const random = seeded(seed);
  const first: RunMismatch[] = [];
  let mismatches = 0;
  let runs = 0;
  for (let i = 0; i < count; i++) {
    const c = generateCase(random);
    const zone = ZONES[Math.floor(random() * ZONES.length)]!;
    const found = compareRun(c, zone, startFor(random, zone), random);
    if (found === "not run") continue;
    runs += 1;
    if (found) {
      mismatches += 1;
      if (first.length < keep) first.push(found);
    }
  }
  return { runs, mismatches, first };
}
