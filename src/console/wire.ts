/**
 * The console put together from a Config and the running service's parts. Nothing connects
 * until a browser asks: its database pool and each action's broker link are opened on demand.
 */
import { createHash } from "node:crypto";
import type { Config } from "../config/config.ts";
import { formatHost } from "../config/database-hosts.ts";
import type { EngineEvent } from "../engine/events.ts";
import { explainBrokerError, explainDatabaseError } from "../observe/diagnose.ts";
import type { Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { MessageOptions } from "../operator/verbs.ts";
import { createDatabase, type Sql } from "../postgres/client.ts";
import { type ScheduleColumns, scheduleColumns } from "../postgres/store.ts";
import { openBrokerLink } from "../rabbitmq/broker.ts";
import { VERSION_LINE } from "../version.ts";
import type { ConsoleContext } from "./context.ts";
import { createFeed } from "./feed.ts";
import { type ConsoleHandler, createConsoleHandler } from "./routes.ts";

interface OperatorConsole {
  readonly handle: ConsoleHandler;
  /** Takes every engine event, beside the reporter. */
  readonly report: (event: EngineEvent) => void;
  close(): Promise<void>;
}

const COLUMNS_TTL_MS = 60_000;

export function createConsole(
  config: Config,
  parts: { log: Logger; metrics: Metrics; messages: MessageOptions; port: () => number },
): OperatorConsole | null {
  const settings = config.console;
  if (!settings) return null;
  const feed = createFeed();
  let sql: Sql | null = null;
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
    sql: () =>
      (sql ??= createDatabase(config.db, {
        connectTimeoutMs: config.connectTimeoutMs,
        max: 2,
        applicationName: "rune-scheduler console",
      })),
    columns: () => {
      if (!columns || performance.now() - columns.at > COLUMNS_TTL_MS) {
        const value = scheduleColumns(context.sql());
        columns = { at: performance.now(), value };
        value.catch(() => (columns = null));
      }
      return columns.value;
    },
    openPublisher: () => openBrokerLink(config.mq, config.connectTimeoutMs),
    messages: parts.messages,
    tokenLabel: tokenLabel(settings.token),
    overdueAfterMs: config.pollIntervalMs,
    explain: (dependency, error) =>
      dependency === "PostgreSQL"
        ? explainDatabaseError(error, config.db, config.connectTimeoutMs)
        : explainBrokerError(error, config.mq, config.connectTimeoutMs),
  };
  return {
    handle: createConsoleHandler(context),
    report: feed.report,
    async close() {
      await sql?.end({ timeout: 2 }).catch(() => {});
    },
  };
}

/** The audit's name for the token: enough to tell two tokens apart, nothing to rebuild one from. */
function tokenLabel(token: string | null | undefined): string {
  if (!token) return "no token";
  return `token sha256:${createHash("sha256").update(token).digest("hex").slice(0, 8)}`;
}
