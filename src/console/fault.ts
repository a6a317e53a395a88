/**
 * Whose fault a failed read is. A dependency that is down or busy (connection lost, refused,
 * locked, out of resources, shut down, timed out) is a 503 naming it; any other error is the
 * console's own fault, a 500, since every input was checked before it reached PostgreSQL.
 */
import { storeFailure } from "../postgres/failures.ts";

/** SQLSTATE classes of a server that cannot serve now: 08 connection, 53 resources, 57 operator intervention (timeouts, shutdown), 58 system. */
const UNAVAILABLE_CLASSES = /^(08|53|57|58)/;

export function dependencyDown(error: unknown): boolean {
  if (storeFailure(error).kind !== "statement failed") return true;
  return UNAVAILABLE_CLASSES.test(String((error as { code?: unknown })?.code ?? ""));
}
