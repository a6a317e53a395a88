/** What the console's handlers need from the running service: plain values and lazily opened connections. */
import type { ConsoleConfig } from "../config/console.ts";
import type { Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { MessageOptions } from "../operator/verbs.ts";
import type { Sql } from "../postgres/client.ts";
import type { ScheduleColumns } from "../postgres/store.ts";
import type { BrokerLink } from "../rabbitmq/link.ts";
import type { Bound } from "./auth.ts";
import type { ConsoleFeed } from "./feed.ts";

interface InstanceInfo {
  readonly version: string;
  readonly databaseHosts: readonly string[];
  readonly brokerNodes: readonly string[];
  readonly queue: string;
}

export interface ConsoleContext {
  readonly config: ConsoleConfig;
  /** The address and port the HTTP server listens on (the port is known once it is bound). */
  bound(): Bound;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly feed: ConsoleFeed;
  readonly instance: InstanceInfo;
  /** The console's own small pool, opened on first use: no browser, no connection. */
  sql(): Sql;
  /** Which optional columns the table has, read once per minute at most. */
  columns(): Promise<ScheduleColumns>;
  /** A broker link for one action, closed by the caller, as the CLI's verbs open theirs. */
  openPublisher(): Promise<BrokerLink>;
  readonly messages: MessageOptions;
  /** Names the console's token in the audit without revealing it (`token sha256:` and 8 hex digits). */
  readonly tokenLabel: string;
  /** A valid active row due longer ago than this is overdue (one poll interval, as `stats` says). */
  readonly overdueAfterMs: number;
  /** The operator's line for a database or broker error (where, why, what to try), no secret in it. */
  explain(dependency: "PostgreSQL" | "RabbitMQ", error: unknown): string;
}
