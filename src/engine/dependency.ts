/**
 * How the engine tells its failures apart: which dependency, whether the cause is permanent
 * (no retry can help), and whether it is a table lock (wait, do not count it as a failure).
 */

import { LOCK_NOT_AVAILABLE } from "../postgres/claim-transaction.ts";
import { isConnectionError } from "../postgres/client.ts";

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
  ) {
    super(`${doing} failed: ${cause instanceof Error ? cause.message : String(cause ?? "unknown")}`);
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
  if ((error as { code?: unknown })?.code === LOCK_NOT_AVAILABLE)
    return { error: new TableLockedError(doing, error), lost: false };
  return { error: new DependencyError("PostgreSQL", doing, error), lost: isConnectionError(error) };
}

const PERMANENT_SQLSTATES = new Set([
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification (no pg_hba entry, role missing)
  "3D000", // invalid_catalog_name: the database does not exist
]);

/**
 * A refusal that retrying cannot cure: wrong credentials, a database or vhost that does not
 * exist. At start-up it ends the process at once, so a misconfiguration shows in seconds.
 */
export function isPermanentRefusal(error: unknown): boolean {
  const cause = error instanceof DependencyError ? error.cause : error;
  const code = String((cause as { code?: unknown })?.code ?? "");
  if (PERMANENT_SQLSTATES.has(code)) return true;
  if (!(error instanceof DependencyError) || error.dependency !== "RabbitMQ") return false;
  const message = cause instanceof Error ? cause.message : String(cause);
  // amqplib reports a refused vhost as a close instead of the expected ConnectionOpenOk.
  // Credentials (403 at the handshake), a vhost (530 or no ConnectionOpenOk), or a missing queue
  // that this user may not declare: none of them heals by itself.
  // Only the broker's own reply codes count, never digits elsewhere (a port :31403, a size).
  return /\b403 \(ACCESS-REFUSED\)|\b530 \(NOT-ALLOWED\)|ACCESS_REFUSED - Login was refused|PLAIN login refused|Expected ConnectionOpenOk/.test(
    message,
  );
}

export interface GiveUpInput {
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
