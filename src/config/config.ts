/**
 * The only reader of configuration: environment, `*_FILE` secrets, a `.env` file and CLI flags.
 * Everything else receives the frozen {@link Config} this returns.
 *
 * Precedence for every setting: CLI flag, then the process environment, then `.env` in the
 * working directory, then the default. `DATABASE_URL` / `RABBITMQ_URL` override their parts.
 */

import { readFileSync } from "node:fs";
import { isFernetKey } from "../schedule/fernet.ts";
import { MAX_INT4 } from "../units.ts";
import { type ConsoleConfig, consoleConfig } from "./console.ts";
import { databaseUrlPassword, decodeUrlPart } from "./database-hosts.ts";
import { parseDotenv } from "./dotenv.ts";
import { type HistoryConfig, historyConfig } from "./history.ts";
import { type HttpTlsConfig, httpTlsCa, httpTlsConfig } from "./http-tls.ts";
import { LOG_FORMATS, type LogFormat, type LogLevel, parseLogLevel } from "./levels.ts";
import { type DotenvLocation, describeValues, dotenvLocation, type Origin } from "./origin.ts";
import { maskSetting } from "./redact.ts";
import { flagName, SETTINGS, type Setting, type SettingName } from "./settings.ts";
import {
  type BrokerConfig,
  brokerConfig,
  type DatabaseConfig,
  databaseConfig,
  number,
  parseUrl,
  seconds,
} from "./values.ts";

export interface Config {
  readonly db: DatabaseConfig;
  /** A direct address for LISTEN (SCHEDULER_NOTIFY_DATABASE_URL), when `db` goes through a pooler; else null. */
  readonly notifyDb: DatabaseConfig | null;
  readonly mq: BrokerConfig;
  readonly pollIntervalMs: number;
  readonly lookAheadMs: number;
  readonly batchSize: number;
  readonly maxMessageBytes: number;
  readonly misfireGraceMs: number;
  readonly pauseAfterFailures: number;
  readonly maxRetries: number;
  /** How long a running scheduler may be without a dependency before a critical exit; 0 = never. */
  readonly maxOutageMs: number;
  /** Message bytes in flight per claim transaction (a batch always holds at least one row). */
  readonly batchBytes: number;
  readonly healthcheckIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly httpHost: string;
  readonly httpPort: number;
  /** HTTPS for the HTTP server (certificate and key files), or null for plain HTTP. */
  readonly httpTls: HttpTlsConfig | null;
  /** The CA file `healthcheck` and `stats` trust for an HTTPS instance, or null (the system's). */
  readonly httpTlsCa: string | null;
  readonly shutdownTimeoutMs: number;
  readonly notifyChannel: string | null;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly encryptionKey: string | null;
  /** The operator console on the HTTP server, or null when it is off (the default). */
  readonly console: ConsoleConfig | null;
  /** The fire history and audit: this replica's name and the retention settings. */
  readonly history: HistoryConfig;
  /** Every secret value in effect, so the logger can scrub them from any output. */
  readonly secrets: readonly string[];
  /** Where each setting's value came from. */
  readonly origins: Readonly<Record<SettingName, Origin>>;
  /** Where `./.env` was looked for; null when the caller passed its contents without a place. */
  readonly dotenv: DotenvLocation | null;
}

/**
 * The look-ahead is added to now() in the poll (`make_interval`) and becomes an in-process timer.
 * A day keeps both far inside their limits (a huge value made every poll fail with "interval out
 * of range"); a longer window only makes every poll read more rows, since the next poll re-reads
 * them anyway.
 */
const MAX_LOOK_AHEAD_MS = 86_400_000;
/** Bytes are summed exactly up to here; any real memory limit is far below it. */
const MAX_BYTES = Number.MAX_SAFE_INTEGER;

/** A bad configuration value. `message` is the one line an operator sees (secrets masked). */
export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(
    readonly variable: string,
    shownValue: string,
    readonly expected: string,
  ) {
    super(`${variable}=${shownValue} is invalid: expected ${expected}`);
    this.name = "ConfigError";
  }
}

export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Flags by env name, already parsed by the CLI layer. */
  readonly flags?: Readonly<Record<string, string | undefined>>;
  /** Contents of `.env` in the working directory, if any. */
  readonly dotenv?: string | null;
  /** Where that `.env` was looked for. */
  readonly dotenvLocation?: DotenvLocation | null;
  readonly readFile?: (path: string) => string;
}

/** Reads the process's real sources: `process.env` and `./.env`. */
export function processSources(flags: Record<string, string | undefined> = {}): ConfigSources {
  const location = dotenvLocation();
  let dotenv: string | null = null;
  try {
    dotenv = readFileSync(location.path, "utf8");
  } catch {
    dotenv = null; // no .env is the normal case
  }
  return {
    env: process.env,
    flags,
    dotenv,
    dotenvLocation: { ...location, found: dotenv !== null },
    readFile: (path) => readFileSync(path, "utf8"),
  };
}

/** Resolves and validates every setting; throws {@link ConfigError} on the first bad one. */
/** The documented default passwords: public knowledge, so never scrubbed from output. */
const PUBLIC_PASSWORDS = new Set(
  SETTINGS.filter((setting) => setting.env === "POSTGRES_PASSWORD" || setting.env === "RABBITMQ_PASSWORD").map(
    (setting) => setting.default,
  ),
);

export function loadConfig(sources: ConfigSources): Config {
  const fromDotenv = sources.dotenv ? parseDotenv(sources.dotenv) : {};
  const readFile = sources.readFile ?? ((path: string) => readFileSync(path, "utf8"));
  const secrets: string[] = [];
  const origins = {} as Record<SettingName, Origin>;

  const lookup = (name: string): string | undefined => sources.flags?.[name] ?? sources.env[name] ?? fromDotenv[name];
  const originOf = (name: string): Origin =>
    sources.flags?.[name] !== undefined ? "flag" : sources.env[name] !== undefined ? "environment" : "dotenv";

  const raw = (setting: Setting): string | null => {
    const direct = lookup(setting.env);
    const fileVar = `${setting.env}_FILE`;
    const file = lookup(fileVar);
    let value: string | null = direct ?? null;
    let isDefault = false;
    origins[setting.env as SettingName] = originOf(setting.env);
    if (value === null) {
      if (file !== undefined && (setting.kind === "secret" || setting.kind === "url")) {
        try {
          value = readFile(file).replace(/\r?\n$/, "");
          origins[setting.env as SettingName] = "file";
        } catch (error) {
          const reason = (error as NodeJS.ErrnoException).code ?? String(error);
          throw new ConfigError(fileVar, JSON.stringify(file), `a readable file (${reason})`);
        }
      } else {
        value = setting.default;
        isDefault = true;
        origins[setting.env as SettingName] = "default";
      }
    }
    // Defaults ("postgres", "guest") are public knowledge; scrubbing them would mangle logs.
    if (value !== null && value !== "" && (setting.kind === "secret" || setting.kind === "url") && !isDefault)
      secrets.push(value);
    return value;
  };

  const values = Object.fromEntries(SETTINGS.map((setting) => [setting.env, raw(setting)])) as Record<
    SettingName,
    string | null
  >;
  const get = (name: SettingName): string => values[name] ?? "";
  const shown = (name: SettingName): string => {
    const setting = SETTINGS.find((candidate) => candidate.env === name)!;
    const value = get(name);
    if (setting.kind === "secret") return "(hidden)";
    if (setting.kind === "url") return JSON.stringify(maskSetting(value));
    return JSON.stringify(value);
  };
  const fail = (name: SettingName, expected: string): never => {
    throw new ConfigError(name, shown(name), expected);
  };

  const dotenv = sources.dotenvLocation ?? null;
  /** What an error about a connection shows of where its settings came from (a URL masked). */
  const inEffect = (...names: SettingName[]) =>
    describeValues(
      names.map((name) => ({
        env: name,
        flag: flagName(name),
        shown: name.endsWith("_URL") ? maskSetting(get(name)) : get(name),
        origin: origins[name] ?? "default",
      })),
      dotenv,
    );
  const dbUrl = get("DATABASE_URL") !== "";
  const db = {
    ...databaseConfig(get, fail, sources.env.HOME ?? null),
    origin: {
      address: dbUrl ? inEffect("DATABASE_URL") : inEffect("POSTGRES_HOST", "POSTGRES_PORT"),
      database: dbUrl ? inEffect("DATABASE_URL") : inEffect("POSTGRES_DB"),
    },
  };
  const notifyUrl = get("SCHEDULER_NOTIFY_DATABASE_URL");
  // Read as DATABASE_URL is (its TLS parameters, PGSSL* otherwise), never through a pooler.
  const notifyDb =
    notifyUrl === ""
      ? null
      : {
          ...databaseConfig(
            (name) => (name === "DATABASE_URL" ? notifyUrl : name === "POSTGRES_POOLER" ? "none" : get(name)),
            (name, expected) => fail(name === "DATABASE_URL" ? "SCHEDULER_NOTIFY_DATABASE_URL" : name, expected),
            sources.env.HOME ?? null,
            "SCHEDULER_NOTIFY_DATABASE_URL",
          ),
          origin: {
            address: inEffect("SCHEDULER_NOTIFY_DATABASE_URL"),
            database: inEffect("SCHEDULER_NOTIFY_DATABASE_URL"),
          },
        };
  if (notifyDb?.tls.password) secrets.push(notifyDb.tls.password);
  // A URL's password decoded ("Pass@Word9" of "Pass%40Word9") is a secret of its own: a line
  // may quote it outside the URL (the URL as a whole is among the secrets already). The public
  // defaults ("postgres", "guest") are not: scrubbing them would mangle user names and lines.
  const urlPassword = (password: string) => {
    if (password !== "" && !PUBLIC_PASSWORDS.has(password)) secrets.push(password);
  };
  for (const url of [get("DATABASE_URL"), notifyUrl]) if (url !== "") urlPassword(databaseUrlPassword(url));
  const mq = {
    ...brokerConfig(get, fail, origins.RABBITMQ_PORT === "default"),
    origin: {
      address: get("RABBITMQ_URL") !== "" ? inEffect("RABBITMQ_URL") : inEffect("RABBITMQ_HOST", "RABBITMQ_PORT"),
    },
  };
  if (db.tls.password) secrets.push(db.tls.password);
  // Each node's URL carries the password, and an error may quote one URL rather than the list.
  if (get("RABBITMQ_URL") !== "") {
    secrets.push(...mq.urls.filter((url) => parseUrl(url)?.password));
    for (const url of mq.urls) urlPassword(decodeUrlPart(parseUrl(url)?.password ?? ""));
  }
  if (mq.tls?.keyPassword) secrets.push(mq.tls.keyPassword);

  const logLevel =
    parseLogLevel(get("LOG_LEVEL")) ?? fail("LOG_LEVEL", "one of DEBUG, INFO, WARNING, WARN, ERROR, CRITICAL");
  const format = get("LOG_FORMAT").trim().toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(format)) fail("LOG_FORMAT", "text or json");

  const notify = get("SCHEDULER_NOTIFY_CHANNEL").trim();
  if (notify !== "" && !/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(notify)) {
    fail("SCHEDULER_NOTIFY_CHANNEL", "a PostgreSQL identifier (letters, digits, _ and $; at most 63)");
  }
  const key = get("ENCRYPTION_KEY");
  if (key !== "" && !isFernetKey(key))
    fail("ENCRYPTION_KEY", "a Fernet key: 32 bytes in URL-safe base64 (44 characters)");
  const httpHost = get("SCHEDULER_HTTP_HOST").trim();
  if (httpHost === "") fail("SCHEDULER_HTTP_HOST", "a host name or address to listen on");

  const operatorConsole = consoleConfig(get, fail, get("SCHEDULER_HTTP_PORT").trim() === "0");

  const config: Config = {
    db,
    notifyDb,
    mq,
    pollIntervalMs: seconds(get, fail, "SCHEDULER_POLL_INTERVAL"),
    lookAheadMs: seconds(get, fail, "SCHEDULER_LOOK_AHEAD", { zero: true, maxMs: MAX_LOOK_AHEAD_MS }),
    batchSize: number(get, fail, "SCHEDULER_BATCH_SIZE", { min: 1, max: 10_000, integer: true }),
    maxMessageBytes: number(get, fail, "SCHEDULER_MAX_MESSAGE_BYTES", {
      min: 1,
      max: 512 * 1024 * 1024,
      integer: true,
    }),
    misfireGraceMs: seconds(get, fail, "SCHEDULER_MISFIRE_GRACE", { zero: true }),
    pauseAfterFailures: number(get, fail, "SCHEDULER_PAUSE_AFTER_FAILURES", { min: 0, max: MAX_INT4, integer: true }),
    maxRetries: number(get, fail, "SCHEDULER_MAX_RETRIES", { min: 0, max: MAX_INT4, integer: true }),
    maxOutageMs: seconds(get, fail, "SCHEDULER_MAX_OUTAGE", { zero: true }),
    batchBytes: number(get, fail, "SCHEDULER_BATCH_BYTES", { min: 1, max: MAX_BYTES, integer: true }),
    healthcheckIntervalMs: seconds(get, fail, "SCHEDULER_HEALTHCHECK_INTERVAL"),
    connectTimeoutMs: seconds(get, fail, "SCHEDULER_CONNECT_TIMEOUT"),
    httpHost,
    httpPort: number(get, fail, "SCHEDULER_HTTP_PORT", { min: 0, max: 65535, integer: true }),
    httpTls: httpTlsConfig(get, fail),
    httpTlsCa: httpTlsCa(get, fail),
    shutdownTimeoutMs: seconds(get, fail, "SCHEDULER_SHUTDOWN_TIMEOUT"),
    notifyChannel: notify === "" ? null : notify,
    logLevel,
    logFormat: format as LogFormat,
    encryptionKey: key === "" ? null : key,
    console: operatorConsole,
    history: historyConfig(get, fail),
    secrets: [...new Set(secrets)],
    origins: Object.freeze(origins),
    dotenv,
  };
  return Object.freeze(config);
}
