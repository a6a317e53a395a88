/**
 * `run` wired together: database, broker, engine, HTTP server, HEALTHCHECK lines, LISTEN, from
 * the parts src/parts.ts makes of the Config; everything below takes plain values.
 */

import type { Config } from "./config/config.ts";
import { formatHost } from "./config/database-hosts.ts";
import { createClock } from "./engine/clock.ts";
import { type Engine, startEngine } from "./engine/engine.ts";
import type { Report } from "./engine/events.ts";
import { explainBrokerError, explainDatabaseError } from "./observe/diagnose.ts";
import { ListenError, readiness, startHttp } from "./observe/http.ts";
import type { Logger } from "./observe/log.ts";
import { createMetrics, healthcheckLine, healthFailedLine } from "./observe/metrics.ts";
import { createReporter } from "./observe/reporter.ts";
import { consoleParts, engineParts, messageOptions } from "./parts.ts";
import { isConnectionError } from "./postgres/client.ts";
import { certificateGraceMs, tlsRegistry, tlsSummary } from "./tls/registry.ts";
import { VERSION_LINE } from "./version.ts";

export interface Service {
  readonly done: Promise<0 | 1>;
  /** Stops everything; resolves with the exit code once connections are closed. */
  stop(): Promise<0 | 1>;
  /** Why the engine gave up (which dependency, why, the explained cause), or null if it did not. */
  stopReason(): string | null;
  /** Reads the HTTPS certificate and key again (SIGHUP); nothing without HTTPS. */
  reloadHttpTls(why: string): void;
}

/** `verify-full (CA: sslrootcert in DATABASE_URL, client certificate: PGSSLCERT)`, for the banner. */
function describeTlsConfig(tls: Config["db"]["tls"]): string {
  if (tls.mode === "disable") return "disable";
  const parts = [`verify ${tls.verify}`];
  if (tls.verify !== "none") parts.push(`CA: ${tls.rootCert?.setting ?? "the system's store"}`);
  if (tls.cert) parts.push(`client certificate: ${tls.cert.setting}`);
  return `${tls.mode} (${parts.join(", ")})`;
}

/** The effective configuration for the start-up banner: no secret, no URL password. */
function describeConfig(config: Config): Record<string, unknown> {
  return {
    db: config.db.where,
    db_tls: describeTlsConfig(config.db.tls),
    mq: config.mq.where,
    mq_tls: describeBrokerSecurity(config),
    queue: config.mq.queue,
    poll_interval_s: config.pollIntervalMs / 1000,
    look_ahead_s: config.lookAheadMs / 1000,
    batch_size: config.batchSize,
    misfire_grace_s: config.misfireGraceMs / 1000,
    pause_after_failures: config.pauseAfterFailures,
    max_retries: config.maxRetries,
    max_outage_s: config.maxOutageMs / 1000,
    batch_bytes: config.batchBytes,
    http: config.httpPort === 0 ? "off" : `${config.httpHost}:${config.httpPort}${config.httpTls ? " (https)" : ""}`,
    notify_channel: config.notifyChannel ?? "off",
    pooler: config.db.pooler,
    encryption: config.encryptionKey ? "fernet" : "off",
    console: config.console?.mode ?? "off",
  };
}

/** 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach. */
function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** What TLS and SASL the broker settings ask for: `off`, or e.g. `verify_peer, CA file, client certificate, EXTERNAL`. */
function describeBrokerSecurity(config: Config): string {
  const { tls, auth } = config.mq;
  const anyTls = config.mq.urls.some((url) => url.startsWith("amqps:"));
  const parts = anyTls && tls ? [tls.verify] : ["off"];
  if (anyTls && tls?.ca) parts.push("CA file");
  if (anyTls && tls?.cert) parts.push("client certificate");
  if (anyTls && tls?.serverName) parts.push(`server name ${tls.serverName}`);
  if (auth && auth !== "plain") parts.push(auth.toUpperCase());
  return parts.join(", ");
}

/**
 * Starts everything, the HTTP port first: a port in use or an address this host lacks throws
 * {@link ListenError} before any connection is opened, so nothing is left to close.
 */
export async function startService(config: Config, log: Logger): Promise<Service> {
  log.info(`rune-scheduler ${VERSION_LINE} starting`, describeConfig(config));
  // The LISTEN address's own (its key or CA), once each where it shares DATABASE_URL's files.
  for (const warning of new Set([...config.db.tls.warnings, ...(config.notifyDb?.tls.warnings ?? [])]))
    log.warn(warning);
  for (const warning of config.mq.warnings ?? []) log.warn(warning);
  const metrics = createMetrics();
  const clock = createClock();
  /** Milliseconds since the engine loop last went round; set once the engine exists. */
  let loopIdleMs: (() => number) | null = null;
  const staleAfterMs = 2 * config.pollIntervalMs + 60_000;
  let server: ReturnType<typeof startHttp> | null = null;
  const messages = messageOptions(config);
  const operatorConsole = consoleParts(config, {
    log,
    metrics,
    messages,
    port: () => server?.port ?? config.httpPort,
  });
  if (config.httpPort !== 0) {
    try {
      server = startHttp(
        config.httpHost,
        config.httpPort,
        {
          metrics,
          staleAfterMs,
          // Before the engine exists the loop has not had a chance to stall.
          loopIdleMs: () => loopIdleMs?.() ?? 0,
          stats: () => ({
            ...metrics,
            clockOffsetMs: clock.offsetMs(),
            tls: tlsRegistry.entries().map(({ engine, host, state }) => ({ engine, host, ...state })),
          }),
          // Only certificates in use: a host left behind (failover, a node removed) drops out.
          tls: () => tlsRegistry.inUse(Date.now(), certificateGraceMs(config.pollIntervalMs)),
        },
        operatorConsole?.handle,
        config.httpTls,
        { info: (line) => log.info(line), error: (line) => log.error(line) },
      );
    } catch (error) {
      throw new ListenError(config.httpHost, config.httpPort, error);
    }
  }
  // The engine's pool is renewed after a connection failure; LISTEN keeps its own connection,
  // which postgres.js re-establishes by itself.
  const parts = engineParts(config);
  const reporter = createReporter({
    log,
    metrics,
    where: { PostgreSQL: config.db.where, RabbitMQ: config.mq.where },
    explain: (dependency, error, where) =>
      dependency === "PostgreSQL"
        ? explainDatabaseError(error, config.db, config.connectTimeoutMs)
        : explainBrokerError(error, where === null ? config.mq : { ...config.mq, where }, config.connectTimeoutMs),
    tlsOf: (dependency) =>
      dependency === "PostgreSQL"
        ? tlsSummary(tlsRegistry, "postgresql", config.db.hosts.map(formatHost))
        : tlsSummary(tlsRegistry, "rabbitmq", null),
  });
  const report: Report = operatorConsole
    ? (event) => {
        reporter(event);
        operatorConsole.report(event);
      }
    : reporter;
  const engine: Engine = startEngine({
    store: parts.store,
    connectPublisher: parts.connectPublisher,
    clock,
    report,
    options: {
      pollIntervalMs: config.pollIntervalMs,
      lookAheadMs: config.lookAheadMs,
      batchSize: config.batchSize,
      batchBytes: config.batchBytes,
      maxOutageMs: config.maxOutageMs,
      pauseAfterFailures: config.pauseAfterFailures,
      maxRetries: config.maxRetries,
      misfireGraceMs: config.misfireGraceMs,
      maxMessageBytes: config.maxMessageBytes,
      seal: messages.seal ?? null,
    },
  });
  loopIdleMs = () => clock.local() - engine.status().lastProgressLocal;
  const pruner = parts.startPruner(log);
  if (server) log.info(`HTTP health and metrics on ${server.scheme}://${config.httpHost}:${server.port}`);
  if (server && operatorConsole) {
    const how = config.console?.mode === "read-only" ? "read-only, no token" : "token required";
    log.info(`Operator console on ${server.scheme}://${config.httpHost}:${server.port}/console/ (${how})`);
    if (server.scheme === "http" && !isLoopback(config.httpHost)) {
      log.warn(
        `The operator console is served over plain HTTP on ${config.httpHost}, which is not a loopback address: its token and pages cross the network in clear; set SCHEDULER_HTTP_TLS_CERT and SCHEDULER_HTTP_TLS_KEY, or put a TLS proxy in front and bind SCHEDULER_HTTP_HOST=127.0.0.1`,
      );
    }
  }

  const healthTimer = setInterval(() => {
    // The same judgement as /readyz: OK only while this replica can fire.
    if (readiness(metrics).ok) log.info(healthcheckLine(metrics));
    else log.error(healthFailedLine(metrics));
  }, config.healthcheckIntervalMs);

  let unlisten: (() => Promise<void>) | null = null;
  if (config.notifyChannel && !parts.listener) {
    log.warn(
      `LISTEN on "${config.notifyChannel}" is off: POSTGRES_POOLER=transaction gives no session to listen on; polling every ${config.pollIntervalMs / 1000}s only (set SCHEDULER_NOTIFY_DATABASE_URL to a direct address of the server to listen there)`,
    );
  }
  if (config.notifyChannel && parts.listener) {
    const channel = config.notifyChannel;
    parts.listener
      .listen(
        channel,
        () => engine.wake(),
        () => log.info(`Listening for notifications on "${channel}"`),
      )
      .then((listening) => (unlisten = listening.unlisten))
      .catch((error: unknown) => {
        // LISTEN's own address (SCHEDULER_NOTIFY_DATABASE_URL) when one is given: its host, its settings.
        const why = explainDatabaseError(error, config.notifyDb ?? config.db, config.connectTimeoutMs);
        const every = `polling every ${config.pollIntervalMs / 1000}s`;
        // postgres.js re-issues a LISTEN whose connection failed each time it reconnects, so a
        // database that is down only delays it; anything else (a refused channel) is for good.
        if (isConnectionError(error))
          log.warn(`LISTEN on "${channel}" waits for PostgreSQL (${why}); ${every} until it listens`);
        else log.error(`LISTEN on "${channel}" failed (${why}); ${every} only`);
      });
  }

  let stopping: Promise<0 | 1> | null = null;
  const shutdown = async (): Promise<0 | 1> => {
    const code = await engine.stop();
    clearInterval(healthTimer);
    await pruner.stop();
    server?.stop(true);
    await unlisten?.().catch(() => {});
    log.info(`Final statistics: ${healthcheckLine(metrics).replace("HEALTHCHECK OK | ", "")}`);
    await Promise.all([parts.end(), operatorConsole?.close()]);
    return code;
  };
  const done = engine.done.then(() => (stopping ??= shutdown()));
  return {
    done,
    stop: () => (stopping ??= shutdown()),
    stopReason: reporter.stopReason,
    reloadHttpTls: (why) => server?.reloadTls(why),
  };
}
