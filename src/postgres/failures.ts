/**
 * The store adapter's half of the engine's failure vocabulary: a postgres.js or socket error
 * becomes a {@link StoreFailure} of the kind the engine acts on, so the engine never needs to
 * know a SQLSTATE or a driver's error code.
 */
import { StoreFailure } from "../engine/ports.ts";
import { isConnectionError } from "./client.ts";

/** SQLSTATE 55P03: `lock_timeout` ran out (SESSION_LIMITS.lockTimeoutMs). */
const LOCK_NOT_AVAILABLE = "55P03";

/** Refusals that retrying cannot cure: at start-up they end the process at once. */
const REFUSED_SQLSTATES = new Set([
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification (no pg_hba entry, role missing)
  "3D000", // invalid_catalog_name: the database does not exist
]);

/** `error` as the engine needs to see it. */
export function storeFailure(error: unknown): StoreFailure {
  if (error instanceof StoreFailure) return error;
  const code = String((error as { code?: unknown })?.code ?? "");
  if (code === LOCK_NOT_AVAILABLE) return new StoreFailure("table locked", error);
  if (REFUSED_SQLSTATES.has(code)) return new StoreFailure("refused", error);
  if (isConnectionError(error)) return new StoreFailure("connection lost", error);
  return new StoreFailure("statement failed", error);
}
