/**
 * The composition root: the one place that turns a Config into running parts (database pools,
 * broker links, the message sealer, the console). `run` (src/service.ts) and every command take
 * their parts from here, so each part is made one way, with the same settings, everywhere.
 */

import type { Config } from "./config/config.ts";
import type { DatabaseConfig } from "./config/values.ts";
import { createConsole, type OperatorConsole } from "./console/wire.ts";
import { CLAIM_LANES } from "./engine/engine.ts";
import type { EngineStore, Publisher } from "./engine/ports.ts";
import type { Logger } from "./observe/log.ts";
import type { Metrics } from "./observe/metrics.ts";
import type { MessageOptions } from "./operator/verbs.ts";
import { createDatabase, renewablePool, type Sql } from "./postgres/client.ts";
import { createEngineStore } from "./postgres/engine-store.ts";
import { type Pruner, startPruner } from "./postgres/pruner.ts";
import { connectPublisher, openBrokerLink } from "./rabbitmq/broker.ts";
import type { BrokerLink } from "./rabbitmq/link.ts";
import { fernetSealer } from "./schedule/fernet.ts";

/**
 * A pool on the configured database. `db` replaces the database settings (check-db asks each
 * host alone); `applicationName` is what `pg_stat_activity` shows.
 */
export function openDatabase(
  config: Config,
  use: { readonly max: number; readonly applicationName?: string; readonly db?: DatabaseConfig },
): Sql {
  return createDatabase(use.db ?? config.db, {
    connectTimeoutMs: config.connectTimeoutMs,
    max: use.max,
    applicationName: use.applicationName,
  });
}

/** A ready broker link (connected, queue ensured, confirm channel open), closed by the caller. */
export function openPublisher(config: Config): Promise<BrokerLink> {
  return openBrokerLink(config.mq, config.connectTimeoutMs);
}

/** What every message needs: the size limit, and the Fernet sealer when a key is set (made here only). */
export function messageOptions(config: Config): MessageOptions {
  const sealer = config.encryptionKey ? fernetSealer(config.encryptionKey) : null;
  return { maxMessageBytes: config.maxMessageBytes, seal: sealer ? (text) => sealer.encrypt(text) : null };
}

interface EngineParts {
  /** Claims and polls, over a pool renewed after a connection failure (see renewablePool). */
  readonly store: EngineStore;
  /**
   * One connection for LISTEN, which postgres.js re-establishes by itself; null through a
   * transaction pooler without SCHEDULER_NOTIFY_DATABASE_URL, where no session can hold it.
   */
  readonly listener: Sql | null;
  readonly connectPublisher: (onChange: () => void) => Promise<Publisher>;
  /** Starts the history's retention rounds on the engine's pool (docs/design.md §22); stopped before `end`. */
  startPruner(log: Logger): Pruner;
  /** Closes both pools. */
  end(): Promise<void>;
}

/** The engine's connections: one per claim lane and one for polls, one for LISTEN, and its publisher. */
export function engineParts(config: Config): EngineParts {
  const pool = renewablePool(() => openDatabase(config, { max: CLAIM_LANES + 1 }));
  // LISTEN needs a session of its own: through a transaction pooler only a direct address has one.
  const listenDb = config.notifyDb ?? (config.db.pooler === "transaction" ? null : config.db);
  const listener = listenDb && openDatabase(config, { max: 1, db: listenDb });
  return {
    store: createEngineStore(pool, undefined, config.history.instanceName),
    listener,
    connectPublisher: (onChange) => connectPublisher(config.mq, config.connectTimeoutMs, onChange),
    startPruner: (log) => startPruner(pool, config.history, log),
    async end() {
      await Promise.all([pool.end({ timeout: 2 }).catch(() => {}), listener?.end({ timeout: 2 }).catch(() => {})]);
    },
  };
}

/**
 * The console, or null when it is off. Nothing connects until a browser asks: its small pool is
 * opened on first use and each action opens its own broker link, as the CLI's verbs do.
 */
export function consoleParts(
  config: Config,
  shared: { log: Logger; metrics: Metrics; messages: MessageOptions; port: () => number },
): (OperatorConsole & { close(): Promise<void> }) | null {
  if (!config.console) return null;
  let sql: Sql | null = null;
  const operatorConsole = createConsole(config, config.console, {
    ...shared,
    sql: () => (sql ??= openDatabase(config, { max: 2, applicationName: "rune-scheduler console" })),
    openPublisher: () => openPublisher(config),
  });
  return {
    ...operatorConsole,
    async close() {
      operatorConsole.flush();
      await sql?.end({ timeout: 2 }).catch(() => {});
    },
  };
}
