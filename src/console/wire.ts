/**
 * The console put together from a Config and the running service's parts. It opens no
 * connection itself: the composition root (src/parts.ts) hands it a lazily opened pool and a
 * way to open each action's broker link.
 */
import { createHash } from "node:crypto";
import type { Config } from "../config/config.ts";
import type { ConsoleConfig } from "../config/console.ts";
import { formatHost } from "../config/database-hosts.ts";
import type { EngineEvent } from "../engine/events.ts";
import { explainBrokerError, explainDatabaseError } from "../observe/diagnose.ts";
import type { Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { MessageOptions } from "../operator/verbs.ts";
import type { Sql } from "../postgres/client.ts";
import { type ScheduleColumns, scheduleColumns } from "../postgres/store.ts";
import type { BrokerLink } from "../rabbitmq/link.ts";
import { VERSION_LINE } from "../version.ts";
import type { ConsoleContext } from "./context.ts";
import { createFeed } from "./feed.ts";
import { createRefusals } from "./refusals.ts";
import { type ConsoleHandler, createConsoleHandler } from "./routes.ts";

export interface OperatorConsole {
  readonly handle: ConsoleHandler;
  /** Takes every engine event, beside the reporter. */
  readonly report: (event: EngineEvent) => void;
  /** Writes the refusal lines still being folded (at shutdown). */
  flush(): void;
}

const COLUMNS_TTL_MS = 60_000;

export function createConsole(
  config: Config,
  settings: ConsoleConfig,
  parts: {
    log: Logger;
    metrics: Metrics;
    messages: MessageOptions;
    port: () => number;
    /** The console's own small pool, opened on first use and closed by whoever made it. */
    sql: () => Sql;
    openPublisher: () => Promise<BrokerLink>;
  },
): OperatorConsole {
  const feed = createFeed();
  let columns: { at: number; value: Promise<ScheduleColumns> } | null = null;
  const context: ConsoleContext = {
    config: settings,
    bound: () => ({ host: config.httpHost, port: parts.port() }),
    log: parts.log,
    metrics: parts.metrics,
    feed,
    instance: {
      version: VERSION_LINE,
      databaseHosts: config.db.hosts.map(formatHost),
      brokerNodes: config.mq.wheres,
      queue: config.mq.queue,
    },
    sql: parts.sql,
    columns: () => {
      if (!columns || performance.now() - columns.at > COLUMNS_TTL_MS) {
        const value = scheduleColumns(context.sql());
        columns = { at: performance.now(), value };
        value.catch(() => (columns = null));
      }
      return columns.value;
    },
    openPublisher: parts.openPublisher,
    messages: parts.messages,
    tokenLabel: tokenLabel(settings.token),
    overdueAfterMs: config.pollIntervalMs,
    explain: (dependency, error) =>
      dependency === "PostgreSQL"
        ? explainDatabaseError(error, config.db, config.connectTimeoutMs)
        : explainBrokerError(error, config.mq, config.connectTimeoutMs),
  };
  const refusals = createRefusals(context.log, (reason) => {
    context.metrics.consoleAuthFailures[reason] += 1;
  });
  return {
    handle: createConsoleHandler(context, refusals),
    report: feed.report,
    flush: refusals.flush,
  };
}

/** The audit's name for the token: enough to tell two tokens apart, nothing to rebuild one from. */
function tokenLabel(token: string | null | undefined): string {
  if (!token) return "no token";
  return `token sha256:${createHash("sha256").update(token).digest("hex").slice(0, 8)}`;
}
