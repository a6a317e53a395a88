/**
 * How the engine tells its failures apart: which dependency, whether the cause is permanent
 * (no retry can help), and whether it is a table lock (wait, do not count it as a failure).
 */

import { messageOf } from "../error-text.ts";
import { PublisherRefused, StoreFailure } from "./ports.ts";

export type Dependency = "PostgreSQL" | "RabbitMQ";

/** A failure of one dependency, named so the operator knows where to look. */
export class DependencyError extends Error {
  constructor(
    readonly dependency: Dependency,
    /** What the engine was doing: "connecting", "polling", … */
    readonly doing: string,
    override readonly cause?: unknown,
    /** True when the cycle that failed had recorded rows first: progress, not a failed attempt. */
    readonly progressed = false,
    /** True when retrying cannot cure it (credentials, a database or vhost that does not exist). */
    readonly permanent = false,
    /** The one server or node it concerns, when known (a redacted URL); else it may be any configured. */
    readonly where: string | null = null,
  ) {
    super(`${doing} failed: ${messageOf(cause ?? "unknown")}`);
    this.name = "DependencyError";
  }
}

/**
 * A statement waited `lock_timeout` for a table lock someone else holds (a plain CREATE INDEX,
 * an ALTER TABLE): nothing was claimed or published. Not a failure of anything: wait and retry.
 */
export class TableLockedError extends Error {
  constructor(
    readonly doing: string,
    override readonly cause: unknown,
  ) {
    super(`${doing}: ${(cause as Error).message}`);
    this.name = "TableLockedError";
  }
}

/** Wraps a database failure as the engine needs it; `lost` is true when the connection is gone. */
export function databaseFailure(doing: string, error: unknown): { error: Error; lost: boolean } {
  if (error instanceof DependencyError || error instanceof TableLockedError) return { error, lost: false };
  if (!(error instanceof StoreFailure)) return { error: new DependencyError("PostgreSQL", doing, error), lost: false };
  if (error.kind === "table locked") return { error: new TableLockedError(doing, error.cause), lost: false };
  const permanent = error.kind === "refused";
  return {
    error: new DependencyError("PostgreSQL", doing, error.cause, false, permanent),
    lost: error.kind === "connection lost",
  };
}

/** Wraps a failure to open the broker link as the engine needs it. */
export function brokerConnectFailure(error: unknown): DependencyError {
  if (error instanceof PublisherRefused) return new DependencyError("RabbitMQ", "connecting", error.cause, false, true);
  return new DependencyError("RabbitMQ", "connecting", error);
}

/**
 * A refusal that retrying cannot cure: wrong credentials, a database or vhost that does not
 * exist. At start-up it ends the process at once, so a misconfiguration shows in seconds.
 */
export function isPermanentRefusal(error: unknown): boolean {
  return error instanceof DependencyError && error.permanent;
}

interface GiveUpInput {
  /** False until the first complete cycle (start-up). */
  readonly running: boolean;
  readonly failures: number;
  readonly maxRetries: number;
  readonly outageMs: number;
  readonly maxOutageMs: number;
  readonly permanent: boolean;
}

/**
 * Why to give up now, or null to retry (docs/design.md §13): at start-up after MAX_RETRIES consecutive
 * failures or at once on a permanent refusal; once running only after MAX_OUTAGE, if set.
 */
export function giveUpReason(input: GiveUpInput): string | null {
  if (!input.running) {
    if (input.permanent) return "refused for good at start-up; fix the configuration";
    if (input.maxRetries > 0 && input.failures >= input.maxRetries) {
      return `failed ${input.failures} consecutive times at start-up (SCHEDULER_MAX_RETRIES=${input.maxRetries})`;
    }
    return null;
  }
  if (input.maxOutageMs > 0 && input.outageMs >= input.maxOutageMs) {
    return `unavailable for ${(input.outageMs / 1000).toFixed(1)}s (SCHEDULER_MAX_OUTAGE=${input.maxOutageMs / 1000})`;
  }
  return null;
}
