/**
 * The engine's paces, in one object: production uses {@link DEFAULT_TIMING}; the unit tests pass
 * shorter ones through their harness (test/support/engine-fakes.ts), so no test-only switch
 * lives among the production options.
 */
import { backoffDelay, probeDelay } from "./backoff.ts";

export interface EngineTiming {
  /** Until the next report of an outage after report number `attempt` (src/engine/backoff.ts). */
  retryDelay(attempt: number): number;
  /** Between attempts while a dependency is down. */
  probeDelay(): number;
  /** How often to look for invalid rows (a table scan), given the poll interval. */
  invalidScanIntervalMs(pollIntervalMs: number): number;
  /** First reminder of a broker that still blocks publishing; each later one waits twice as long. */
  readonly blockedReminderMs: number;
}

/** Reminders of a block never further apart than this. */
export const BLOCKED_REMINDER_CAP_MS = 10 * 60_000;

export const DEFAULT_TIMING: EngineTiming = {
  retryDelay: (attempt) => backoffDelay(attempt),
  probeDelay: () => probeDelay(),
  invalidScanIntervalMs: (pollIntervalMs) => Math.max(pollIntervalMs, 60_000),
  blockedReminderMs: 30_000,
};
