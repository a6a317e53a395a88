/** The PostgreSQL client: one place that turns {@link DatabaseConfig} into a postgres.js `sql`. */
import postgres from "postgres";
import type { DatabaseConfig, Pooler } from "../config/values.ts";
import { sslOption } from "./tls-connect.ts";

export type Sql = postgres.Sql;

/** Server-side limits that make a stalled or partitioned scheduler release its row locks. */
export const SESSION_LIMITS = {
  statementTimeoutMs: 15_000,
  /**
   * How long a statement waits for a table lock (a plain CREATE INDEX, an ALTER TABLE) before
   * it fails with 55P03 and the engine tries again: short enough to stay live and ready, long
   * enough that the claim goes the moment a lock it waited for is released.
   */
  lockTimeoutMs: 5_000,
  idleInTransactionTimeoutMs: 20_000,
  keepAliveSeconds: 10,
  /**
   * Client side: a statement with no answer by then is taken for a dead link. The server would
   * have cancelled it at statementTimeoutMs; TCP keepalive never fires while a request is
   * unanswered, and retransmission gives up only after ~15 minutes, so without this a silent
   * peer would hang the engine.
   */
  statementDeadlineMs: 20_000,
} as const;

/**
 * postgres.js and socket error codes, and SQLSTATEs, that mean "this connection is no use": no
 * connection at all, or one to a server that can no longer serve the scheduler, so the pool is
 * renewed (and, with several hosts, the next one tried). Class 08 (connection exception);
 * 57P01-57P03 (terminated by an administrator, crash shutdown, cannot connect now); 25006 (a
 * read-only transaction: the old primary after a failover, now a standby); 25P03 (the session
 * was ended by idle_in_transaction_session_timeout).
 */
/**
 * A connection error whose session is still there to talk to: 25006 is answered on a working
 * connection (it is the server's role that is wrong). Inside a transaction such an error may be
 * met with a ROLLBACK as usual; every other connection error means the socket is gone, and not
 * one more statement may be sent on it (see store.claimBatch).
 */
export function isSessionAlive(error: unknown): boolean {
  return String((error as { code?: unknown })?.code ?? "") === "25006";
}

export function isConnectionError(error: unknown): boolean {
  const code = String((error as { code?: unknown })?.code ?? "");
  return (
    /^(CONNECTION_|CONNECT_TIMEOUT|ECONN|ENOTFOUND|EAI_|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH)/.test(code) ||
    // A TLS file gone since start (tls-connect.ts) or a server that stopped offering TLS: no
    // connection could be made; a fresh pool reads the files again on its first connect.
    code === "TLS_FILE_UNREADABLE" ||
    code === "SSL_NOT_SUPPORTED" ||
    /^08|^57P0[1-3]$|^25006$|^25P03$/.test(code)
  );
}

interface DatabaseOptions {
  connectTimeoutMs: number;
  /** Pool size; the engine needs one for claims and one for polls. */
  max?: number;
  applicationName?: string;
  /**
   * Dates and times as PostgreSQL's text (`-infinity`, `2026-11-26 13:45:00`) instead of Date
   * objects, which cannot hold ±infinity: for a console that shows what a table holds.
   */
  timesAsText?: boolean;
}

/** date, time, timestamp, timestamptz, timetz. */
const TIME_OIDS = [1082, 1083, 1114, 1184, 1266];

export function createDatabase(db: DatabaseConfig, options: DatabaseOptions): Sql {
  return postgres({
    // Arrays: postgres.js tries the hosts in turn (its types admit one host only; the run-time
    // accepts arrays). With the project's patch, each silent host gets connect_timeout and a
    // host that closes during start-up is followed by the next (patches/postgres+3.4.9.patch).
    host: db.hosts.map((h) => h.host) as unknown as string,
    port: db.hosts.map((h) => h.port) as unknown as number,
    target_session_attrs: db.targetSessionAttrs ?? undefined,
    database: db.database,
    username: db.user,
    password: db.password,
    // A function of the host, called at every connect: files are read anew (tls-connect.ts).
    ssl: sslOption(db.tls) as unknown as boolean,
    // Named prepared statements live in a server session, which transaction pooling does not
    // keep for a client (PgBouncer before 1.21 answers `prepared statement … does not exist`).
    prepare: db.pooler !== "transaction",
    max: options.max ?? 4,
    connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
    keep_alive: SESSION_LIMITS.keepAliveSeconds,
    idle_timeout: 60,
    onnotice: () => {},
    ...(options.timesAsText
      ? { types: { timeText: { to: 1114, from: TIME_OIDS, serialize: String, parse: (text: string) => text } } }
      : {}),
    connection: startupParameters(db.pooler, options.applicationName ?? "rune-scheduler"),
  });
}

/**
 * What goes into the start-up packet. Through a pooler only what PgBouncer tracks and sets on
 * whichever server connection serves us (application_name, TimeZone): it refuses any other
 * (`unsupported startup parameter: statement_timeout`), and managed poolers do not let that
 * list be changed. The limits are then set per claim transaction instead ({@link LOCAL_LIMITS}).
 */
export function startupParameters(pooler: Pooler, applicationName: string): Record<string, string | number> {
  return {
    application_name: applicationName,
    // The tables may use `timestamp without time zone` holding UTC: comparing those with
    // now() is only right when the session zone is UTC, whatever the server's default.
    TimeZone: "UTC",
    ...(pooler === "none"
      ? {
          statement_timeout: SESSION_LIMITS.statementTimeoutMs,
          lock_timeout: SESSION_LIMITS.lockTimeoutMs,
          idle_in_transaction_session_timeout: SESSION_LIMITS.idleInTransactionTimeoutMs,
        }
      : {}),
  };
}

/**
 * {@link SESSION_LIMITS} as `set_config(…, true)` (SET LOCAL) arguments: they last for the
 * transaction that runs them, on whichever server connection a pooler gave it, and never leak
 * to the next client of that connection.
 */
export const LOCAL_LIMITS: readonly (readonly [string, string])[] = [
  ["statement_timeout", String(SESSION_LIMITS.statementTimeoutMs)],
  ["lock_timeout", String(SESSION_LIMITS.lockTimeoutMs)],
  ["idle_in_transaction_session_timeout", String(SESSION_LIMITS.idleInTransactionTimeoutMs)],
];

/** A statement that outlived {@link SESSION_LIMITS.statementDeadlineMs}: its link is presumed dead. */
export class StatementDeadlineError extends Error {
  /** A connection error for {@link isConnectionError}: the pool is renewed and the engine reconnects. */
  readonly code = "CONNECTION_STALLED";
  constructor(what: string, ms: number) {
    super(`${what}: no answer from PostgreSQL within ${ms} ms`);
    this.name = "StatementDeadlineError";
  }
}

/** `work`, or a {@link StatementDeadlineError} once `ms` have passed without an answer. */
export async function withDeadline<T>(what: string, work: PromiseLike<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StatementDeadlineError(what, ms)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A pool that is replaced whole after a connection failure. */
export interface RenewablePool {
  /** Runs `work` on the current pool (made on first use); a connection error retires that pool. */
  use<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  end(options?: { timeout?: number }): Promise<void>;
}

/** How long a retired pool lets its statements in flight finish before it cuts them. */
const RETIRE_GRACE_SECONDS = 5;

/**
 * Why renew rather than let postgres.js reconnect: a stalled socket never errors by itself, so
 * its connection must be terminated to free it (which also lets the server roll back a claim it
 * still holds once the link is back); and postgres.js 3.4.9 can leave a connection that failed
 * inside a transaction unusable (porsager/postgres#1208, #1215). A fresh pool after any
 * connection failure is cheap: failures are rare and the old pool's sockets are gone anyway.
 */
export function renewablePool(connect: () => Sql): RenewablePool {
  let current: Sql | null = null;
  return {
    async use(work) {
      current ??= connect();
      const sql = current;
      try {
        return await work(sql);
      } catch (error) {
        if (isConnectionError(error) && current === sql) {
          current = null;
          // A grace, not 0: another claim lane may be committing a confirmed batch on this pool
          // right now. Then terminate, since a stalled socket would never answer.
          void sql.end({ timeout: RETIRE_GRACE_SECONDS }).catch(() => {});
        }
        throw error;
      }
    },
    async end(options) {
      const sql = current;
      current = null;
      await sql?.end(options);
    },
  };
}
