/**
 * The table of every setting the program reads: its variable, default and kind. `loadConfig`
 * (config.ts) resolves and validates them; the CLI layer derives its flags from this table.
 */

/**
 * `secret` and `url` values may hold credentials: they are scrubbed from logs, shown masked and
 * may come from `*_FILE`. `env` is a plain value with no CLI flag: libpq's own variables
 * (PGSSLMODE…), which keep libpq's names.
 */
type SettingKind = "string" | "secret" | "url" | "env";
export interface Setting {
  readonly env: string;
  readonly default: string | null;
  readonly kind: SettingKind;
}

const s = (env: string, def: string | null, kind: SettingKind = "string"): Setting => ({ env, default: def, kind });

/** Every variable the program reads. Secrets and URLs have no CLI flag: flags show in `ps`. */
export const SETTINGS = [
  s("DATABASE_URL", null, "url"),
  s("POSTGRES_HOST", "db"),
  s("POSTGRES_PORT", "5432"),
  s("POSTGRES_DB", "rune"),
  s("POSTGRES_USER", "postgres"),
  s("POSTGRES_PASSWORD", "postgres", "secret"),
  s("PGSSLMODE", null, "env"),
  s("PGSSLROOTCERT", null, "env"),
  s("PGSSLCERT", null, "env"),
  s("PGSSLKEY", null, "env"),
  s("PGSSLSNI", null, "env"),
  s("POSTGRES_SSL_PASSWORD", null, "secret"),
  s("POSTGRES_POOLER", "none"),
  s("SCHEDULER_NOTIFY_DATABASE_URL", null, "url"),
  s("RABBITMQ_URL", null, "url"),
  s("RABBITMQ_HOST", "rabbitmq"),
  s("RABBITMQ_PORT", "5672"),
  s("RABBITMQ_USER", "guest"),
  s("RABBITMQ_PASSWORD", "guest", "secret"),
  s("RABBITMQ_QUEUE", "workflow_queue"),
  s("RABBITMQ_QUEUE_TYPE", "classic"),
  s("RABBITMQ_TLS", "off"),
  s("RABBITMQ_TLS_CA", null),
  s("RABBITMQ_TLS_CERT", null),
  s("RABBITMQ_TLS_KEY", null),
  s("RABBITMQ_TLS_KEY_PASSWORD", null, "secret"),
  s("RABBITMQ_TLS_VERIFY", "verify_peer"),
  s("RABBITMQ_TLS_SERVER_NAME", null),
  s("RABBITMQ_AUTH_MECHANISM", "plain"),
  s("SCHEDULER_POLL_INTERVAL", "30"),
  s("SCHEDULER_LOOK_AHEAD", "60"),
  s("SCHEDULER_BATCH_SIZE", "500"),
  s("SCHEDULER_MAX_MESSAGE_BYTES", "16777216"),
  s("SCHEDULER_MISFIRE_GRACE", "0"),
  s("SCHEDULER_PAUSE_AFTER_FAILURES", "0"),
  s("SCHEDULER_MAX_RETRIES", "5"),
  s("SCHEDULER_MAX_OUTAGE", "0"),
  s("SCHEDULER_BATCH_BYTES", "16777216"),
  s("SCHEDULER_HEALTHCHECK_INTERVAL", "300"),
  s("SCHEDULER_CONNECT_TIMEOUT", "10"),
  s("SCHEDULER_HTTP_HOST", "127.0.0.1"),
  s("SCHEDULER_HTTP_PORT", "8080"),
  s("SCHEDULER_HTTP_TLS_CERT", null),
  s("SCHEDULER_HTTP_TLS_KEY", null),
  s("SCHEDULER_HTTP_TLS_CA", null),
  s("SCHEDULER_SHUTDOWN_TIMEOUT", "10"),
  s("SCHEDULER_NOTIFY_CHANNEL", null),
  s("SCHEDULER_CONSOLE", null),
  s("SCHEDULER_CONSOLE_TOKEN", null, "secret"),
  s("SCHEDULER_CONSOLE_HOSTS", null),
  s("SCHEDULER_INSTANCE_NAME", null),
  s("SCHEDULER_HISTORY_RETENTION", "604800"),
  s("SCHEDULER_HISTORY_KEEP", "0"),
  s("SCHEDULER_AUDIT_RETENTION", "7776000"),
  s("LOG_LEVEL", "INFO"),
  s("LOG_FORMAT", "text"),
  s("ENCRYPTION_KEY", null, "secret"),
] as const satisfies readonly Setting[];

export type SettingName = (typeof SETTINGS)[number]["env"];

/** `SCHEDULER_POLL_INTERVAL` → `poll-interval`, `POSTGRES_HOST` → `postgres-host`. */
export function flagName(env: string): string {
  return env
    .replace(/^SCHEDULER_/, "")
    .toLowerCase()
    .replaceAll("_", "-");
}

/** The settings that may be given as CLI flags (everything but secrets and URLs). */
export const FLAG_SETTINGS = SETTINGS.filter((setting) => setting.kind === "string");
