/**
 * The configuration flags, typed once: each is a non-secret setting of config.ts, spelled
 * `flagName(env)`, with a short description; help adds its variable and default. Commands take
 * only the groups they use, so `check-db --help` lists what check-db reads.
 */
import type { ArgsDef, StringArgDef } from "citty";
import { FLAG_SETTINGS, flagName } from "../config/settings.ts";

const ABOUT = {
  POSTGRES_HOST: ["PostgreSQL host, or several for failover (a,b:5433)", "host"],
  POSTGRES_PORT: ["PostgreSQL port", "port"],
  POSTGRES_DB: ["database name", "name"],
  POSTGRES_USER: ["database user", "name"],
  POSTGRES_POOLER: ["pool mode of a pooler in front of PostgreSQL: none, session or transaction", "mode"],
  RABBITMQ_HOST: ["RabbitMQ host, or several nodes (a,b:5673)", "host"],
  RABBITMQ_PORT: ["RabbitMQ port", "port"],
  RABBITMQ_USER: ["RabbitMQ user", "name"],
  RABBITMQ_QUEUE: ["durable queue the messages go to", "name"],
  RABBITMQ_QUEUE_TYPE: ["classic or quorum: the type declared when the queue is missing", "type"],
  RABBITMQ_TLS: ["on: AMQP over TLS (amqps, port 5671 unless --rabbitmq-port) for the RABBITMQ_HOST nodes", "on|off"],
  RABBITMQ_TLS_CA: ["PEM file of the CA(s) that sign the broker's certificate (cacertfile)", "file"],
  RABBITMQ_TLS_CERT: ["PEM client certificate file (certfile)", "file"],
  RABBITMQ_TLS_KEY: ["PEM key file of the client certificate (keyfile)", "file"],
  RABBITMQ_TLS_VERIFY: ["verify_peer, or verify_none: no check of the broker's certificate (verify)", "mode"],
  RABBITMQ_TLS_SERVER_NAME: ["name sent (SNI) and checked instead of the host; disable: check the CA only", "name"],
  RABBITMQ_AUTH_MECHANISM: ["plain, amqplain, or external: log in by the client certificate", "name"],
  SCHEDULER_POLL_INTERVAL: ["seconds between polls", "seconds"],
  SCHEDULER_LOOK_AHEAD: ["seconds; a row due within it gets a precise timer", "seconds"],
  SCHEDULER_BATCH_SIZE: ["rows claimed per transaction", "n"],
  SCHEDULER_MAX_MESSAGE_BYTES: ["a larger message is not sent (the fire is recorded as failed)", "bytes"],
  SCHEDULER_MISFIRE_GRACE: ["seconds; a later slot is skipped (0 = always fire once)", "seconds"],
  SCHEDULER_PAUSE_AFTER_FAILURES: ["deactivate a schedule after this many failed fires in a row (0 = never)", "n"],
  SCHEDULER_MAX_RETRIES: ["failed start-up attempts before exit 1 (0 = retry forever)", "n"],
  SCHEDULER_MAX_OUTAGE: ["seconds without a dependency before exit 1 (0 = never)", "seconds"],
  SCHEDULER_BATCH_BYTES: ["message bytes in flight per claim transaction", "bytes"],
  SCHEDULER_HEALTHCHECK_INTERVAL: ["seconds between HEALTHCHECK log lines", "seconds"],
  SCHEDULER_CONNECT_TIMEOUT: ["seconds to open a connection, per host or node", "seconds"],
  SCHEDULER_HTTP_HOST: ["address of the health and metrics server", "host"],
  SCHEDULER_HTTP_PORT: ["port of the health and metrics server (0 = off)", "port"],
  SCHEDULER_HTTP_TLS_CERT: ["PEM certificate file: serve HTTPS (with --http-tls-key)", "file"],
  SCHEDULER_HTTP_TLS_KEY: ["PEM key file of that certificate", "file"],
  SCHEDULER_HTTP_TLS_CA: ["PEM CA file healthcheck and stats trust for an HTTPS instance", "file"],
  SCHEDULER_SHUTDOWN_TIMEOUT: ["seconds to finish the batch in flight on SIGTERM/SIGINT", "seconds"],
  SCHEDULER_NOTIFY_CHANNEL: ["PostgreSQL channel to LISTEN on for an immediate poll", "channel"],
  SCHEDULER_CONSOLE: ["read-only: the console without a token or actions; off: no console even with a token", "mode"],
  SCHEDULER_CONSOLE_HOSTS: ["more Host names the console answers to (name or name:port, comma-separated)", "hosts"],
  SCHEDULER_INSTANCE_NAME: ["this replica's name in the fire history (default host:pid)", "name"],
  SCHEDULER_HISTORY_RETENTION: ["seconds fire history rows are kept (0 = no age limit)", "seconds"],
  SCHEDULER_HISTORY_KEEP: ["fire history rows kept per schedule, the newest (0 = no count limit)", "n"],
  SCHEDULER_AUDIT_RETENTION: ["seconds operator audit rows are kept (0 = forever)", "seconds"],
  LOG_LEVEL: ["DEBUG, INFO, WARNING, ERROR or CRITICAL", "level"],
  LOG_FORMAT: ["text or json", "format"],
} as const satisfies Record<string, readonly [description: string, valueHint: string]>;

type FlagEnv = keyof typeof ABOUT;

/** Values a shell can complete, for the settings that have a closed set. */
export const FLAG_CHOICES: Partial<Record<string, readonly string[]>> = {
  "log-level": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
  "log-format": ["text", "json"],
  "rabbitmq-queue-type": ["classic", "quorum"],
  "postgres-pooler": ["none", "session", "transaction"],
  "rabbitmq-tls": ["on", "off"],
  "rabbitmq-tls-verify": ["verify_peer", "verify_none"],
  "rabbitmq-auth-mechanism": ["plain", "amqplain", "external"],
};

/** The setting behind a flag (`poll-interval` → SCHEDULER_POLL_INTERVAL, default "30"), if any. */
export function settingOfFlag(flag: string): { env: string; default: string | null } | undefined {
  return FLAG_SETTINGS.find((setting) => flagName(setting.env) === flag);
}

/** No `default` in the definition: citty would pass it on as if typed, and it would beat the environment. */
function flags(...envs: string[]): Record<string, StringArgDef> {
  return Object.fromEntries(
    envs.map((env) => {
      const [description, valueHint] = ABOUT[env as FlagEnv] ?? [`overrides ${env}`, "value"];
      return [flagName(env), { type: "string", description, valueHint } satisfies StringArgDef];
    }),
  );
}

export const dbArgs = flags("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER") satisfies ArgsDef;
export const mqArgs = flags(
  "RABBITMQ_HOST",
  "RABBITMQ_PORT",
  "RABBITMQ_USER",
  "RABBITMQ_QUEUE",
  "RABBITMQ_QUEUE_TYPE",
  "RABBITMQ_TLS",
  "RABBITMQ_TLS_CA",
  "RABBITMQ_TLS_CERT",
  "RABBITMQ_TLS_KEY",
  "RABBITMQ_TLS_VERIFY",
  "RABBITMQ_TLS_SERVER_NAME",
  "RABBITMQ_AUTH_MECHANISM",
) satisfies ArgsDef;
export const connectArgs = flags("SCHEDULER_CONNECT_TIMEOUT") satisfies ArgsDef;
export const httpArgs = flags(
  "SCHEDULER_HTTP_HOST",
  "SCHEDULER_HTTP_PORT",
  "SCHEDULER_HTTP_TLS_CERT",
  "SCHEDULER_HTTP_TLS_KEY",
  "SCHEDULER_HTTP_TLS_CA",
) satisfies ArgsDef;
export const logArgs = flags("LOG_LEVEL", "LOG_FORMAT") satisfies ArgsDef;
/** Every configuration flag: what `run` reads. */
export const allConfigArgs = flags(...FLAG_SETTINGS.map((setting) => setting.env)) satisfies ArgsDef;
/** One flag by its setting, for a command that needs just it (stats' overdue threshold). */
export const flagOf = (env: FlagEnv): Record<string, StringArgDef> => flags(env);
