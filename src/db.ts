/** The PostgreSQL client: one place that turns {@link DatabaseConfig} into a postgres.js `sql`. */
import postgres from "postgres";
import type { DatabaseConfig } from "./config.ts";

export type Sql = postgres.Sql;

/** Server-side limits that make a stalled or partitioned scheduler release its row locks. */
export const SESSION_LIMITS = {
  statementTimeoutMs: 15_000,
  idleInTransactionTimeoutMs: 20_000,
  keepAliveSeconds: 10,
} as const;

export interface DatabaseOptions {
  connectTimeoutMs: number;
  /** Pool size; the engine needs one for claims and one for polls. */
  max?: number;
  applicationName?: string;
}

export function createDatabase(db: DatabaseConfig, options: DatabaseOptions): Sql {
  return postgres({
    host: db.host,
    port: db.port,
    database: db.database,
    username: db.user,
    password: db.password,
    max: options.max ?? 4,
    connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
    keep_alive: SESSION_LIMITS.keepAliveSeconds,
    idle_timeout: 60,
    onnotice: () => {},
    connection: {
      application_name: options.applicationName ?? "rune-scheduler",
      // The tables may use `timestamp without time zone` holding UTC: comparing those with
      // now() is only right when the session zone is UTC, whatever the server's default.
      TimeZone: "UTC",
      statement_timeout: SESSION_LIMITS.statementTimeoutMs,
      idle_in_transaction_session_timeout: SESSION_LIMITS.idleInTransactionTimeoutMs,
    },
  });
}
