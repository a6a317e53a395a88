/**
 * What the engine reports: every event it can emit, as one discriminated union. The engine and
 * the batch code only say what happened; src/observe/reporter.ts turns each event into the log lines of docs/observability.md §1
 * and counters. Reported through one synchronous function, so order stays code order and a throw
 * surfaces where it happened.
 */

import type { Dependency } from "./dependency.ts";
import type { FireTally } from "./fire.ts";
import type { InvalidRow, PollResult } from "./ports.ts";

/** The engine's own view of its dependencies (readiness and the `*_up` gauges come from it). */
export interface EngineStatus {
  readonly database: "up" | "down";
  readonly broker: "up" | "down" | "blocked";
  /** Failed attempts of the current outage that were reported (0 when none); see docs/design.md §13. */
  readonly failures: number;
  /** What the current outage is failing on, or null when the last cycle went through. */
  readonly failing: Dependency | "scheduler" | null;
  /** Local monotonic time the current outage began, or null. */
  readonly outageSinceLocal: number | null;
  /** Local monotonic time of the loop's last progress (an iteration, a batch, a poll). */
  readonly lastProgressLocal: number;
  /** True while scheduled_workflows is locked by another session and nothing can be claimed. */
  readonly tableLocked: boolean;
  /** While the broker blocks publishing (flow control): why, and which node said so. */
  readonly blockedBy: BlockedBy | null;
}

/** A broker's flow control, as its link reports it. */
export interface BlockedBy {
  /** "memory alarm", "disk alarm", or the broker's own words. */
  readonly reason: string;
  readonly where: string | null;
}

export type EngineEvent =
  | { readonly type: "status"; readonly status: EngineStatus }
  | { readonly type: "connected"; readonly dependency: Dependency; readonly where?: string | null }
  | { readonly type: "link lost"; readonly reason: string; readonly where?: string | null }
  | { readonly type: "outage began"; readonly status: EngineStatus }
  | {
      readonly type: "retrying";
      readonly dependency: Dependency | "scheduler";
      readonly attempt: number;
      readonly limit: number | null;
      /** Until the next report, unless it is back first; attempts go on every second meanwhile. */
      readonly nextReportMs: number;
      readonly error: unknown;
    }
  | { readonly type: "recovered"; readonly failures: number; readonly outageMs: number | null }
  | {
      readonly type: "gave up";
      readonly dependency: Dependency | "scheduler";
      readonly why: string;
      readonly error: unknown;
    }
  | { readonly type: "blocked"; readonly by: BlockedBy }
  /** Still blocked: a reminder at growing intervals. */
  | { readonly type: "still blocked"; readonly by: BlockedBy; readonly forMs: number }
  | { readonly type: "unblocked"; readonly afterMs: number }
  /** The queue was missing and has been declared again: messages ready in it are gone. */
  | { readonly type: "queue redeclared"; readonly reason: string }
  | { readonly type: "table locked"; readonly doing: string }
  | { readonly type: "table unlocked"; readonly afterMs: number }
  | { readonly type: "polled"; readonly result: PollResult }
  /** A claim transaction committed: its tally is now true. */
  | { readonly type: "batch committed"; readonly tally: FireTally }
  | { readonly type: "outcome refused"; readonly id: number; readonly reason: string; readonly movedOn: boolean }
  | { readonly type: "set aside"; readonly id: number; readonly reason: string }
  /** Fires recorded on their rows whose fire history rows could not be written. */
  | { readonly type: "history lost"; readonly fires: number; readonly reason: string }
  | {
      readonly type: "scanned";
      readonly invalid: readonly InvalidRow[];
      readonly setAside: number;
      readonly pausedNow: number;
    };

export type Report = (event: EngineEvent) => void;
