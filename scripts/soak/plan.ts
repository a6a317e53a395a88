/**
 * Pure: the soak's seeded PRNG and its schedule of events. The whole plan (times, kinds, targets,
 * durations) is drawn from the seed before the run starts, so one seed names one plan; only what
 * the running system does in between (a replica already down, a start-up exit) differs.
 */

/** The benchmark's seeded PRNG (mulberry32): one seed, one plan. */
export { seededRandom as mulberry32 } from "../bench/data.ts";

export type Rng = () => number;
export const between = (rng: Rng, low: number, high: number) => low + rng() * (high - low);
export const intBetween = (rng: Rng, low: number, high: number) => Math.floor(between(rng, low, high + 1));

export type Service = "pg" | "mq";
/** One replica's link (its index) or every replica's link. */
export type Target = number | "all";

export type Fault =
  | { readonly kind: "kill"; readonly replica: number; readonly restartAfterMs: number }
  | { readonly kind: "term"; readonly replica: number; readonly restartAfterMs: number }
  | { readonly kind: "cut"; readonly service: Service; readonly target: Target }
  | { readonly kind: "stall"; readonly service: Service; readonly target: Target; readonly durationMs: number }
  | { readonly kind: "outage"; readonly service: Service; readonly target: Target; readonly durationMs: number }
  | {
      readonly kind: "invalidate";
      readonly how: "null-interval" | "neg-infinity";
      /** Fractions in [0, 1) that pick the rows among those valid at the time. */
      readonly picks: readonly number[];
      readonly durationMs: number;
    };

export interface PlannedEvent {
  /** Milliseconds after the chaos phase starts. */
  readonly atMs: number;
  readonly fault: Fault;
}

/** Label used in the summary's "events by kind". */
export function label(fault: Fault): string {
  switch (fault.kind) {
    case "kill":
    case "term":
      return fault.kind;
    case "invalidate":
      return `invalidate ${fault.how}`;
    default:
      return `${fault.kind} ${fault.service} ${fault.target === "all" ? "all" : "one"}`;
  }
}

export function describe(fault: Fault): string {
  switch (fault.kind) {
    case "kill":
    case "term":
      return `${fault.kind} replica ${fault.replica}, restart after ${(fault.restartAfterMs / 1000).toFixed(1)}s`;
    case "cut":
      return `cut ${fault.service} of ${fault.target === "all" ? "all replicas" : `replica ${fault.target}`}`;
    case "invalidate":
      return `invalidate ${fault.picks.length} row(s) (${fault.how}) for ${(fault.durationMs / 1000).toFixed(1)}s`;
    default:
      return `${fault.kind} ${fault.service} of ${fault.target === "all" ? "all replicas" : `replica ${fault.target}`} for ${(fault.durationMs / 1000).toFixed(1)}s`;
  }
}

const WEIGHTS: readonly [Fault["kind"], number][] = [
  ["kill", 3],
  ["term", 2],
  ["cut", 3],
  ["stall", 2],
  ["outage", 2],
  ["invalidate", 2],
];

function pickKind(rng: Rng): Fault["kind"] {
  const total = WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = rng() * total;
  for (const [kind, weight] of WEIGHTS) if ((roll -= weight) < 0) return kind;
  return "cut";
}

export interface PlanOptions {
  readonly durationMs: number;
  readonly replicas: number;
  /** Gap between two events, ms. */
  readonly gapMs?: readonly [number, number];
}

/**
 * Draws the events of one run. Stalls and outages never overlap on one proxy (a stall's resume
 * would end an outage early); when the proxies a draw needs are busy, it becomes a cut.
 */
export function planEvents(rng: Rng, options: PlanOptions): PlannedEvent[] {
  const [gapLow, gapHigh] = options.gapMs ?? [2_000, 8_000];
  const busyUntil: Record<Service, number[]> = {
    pg: Array.from({ length: options.replicas }, () => 0),
    mq: Array.from({ length: options.replicas }, () => 0),
  };
  const events: PlannedEvent[] = [];
  for (let at = between(rng, gapLow, gapHigh); at < options.durationMs; at += between(rng, gapLow, gapHigh)) {
    const kind = pickKind(rng);
    const replica = intBetween(rng, 0, options.replicas - 1);
    const service: Service = rng() < 0.5 ? "pg" : "mq";
    const target: Target = rng() < 0.3 ? "all" : replica;
    const atMs = Math.round(at);
    if (kind === "kill")
      events.push({ atMs, fault: { kind, replica, restartAfterMs: Math.round(between(rng, 2_000, 6_000)) } });
    else if (kind === "term")
      events.push({ atMs, fault: { kind, replica, restartAfterMs: Math.round(between(rng, 1_000, 4_000)) } });
    else if (kind === "invalidate") {
      const picks = Array.from({ length: intBetween(rng, 1, 5) }, () => rng());
      const how = rng() < 0.5 ? "null-interval" : "neg-infinity";
      events.push({ atMs, fault: { kind, how, picks, durationMs: Math.round(between(rng, 5_000, 30_000)) } });
    } else if (kind === "cut") events.push({ atMs, fault: { kind, service, target } });
    else {
      const durationMs = Math.round(kind === "stall" ? between(rng, 2_000, 8_000) : between(rng, 5_000, 40_000));
      const indexes = target === "all" ? busyUntil[service].map((_, index) => index) : [target];
      if (indexes.some((index) => busyUntil[service][index]! > atMs)) {
        events.push({ atMs, fault: { kind: "cut", service, target } });
        continue;
      }
      for (const index of indexes) busyUntil[service][index] = atMs + durationMs;
      events.push({ atMs, fault: { kind, service, target, durationMs } });
    }
  }
  return events;
}
