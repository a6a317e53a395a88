/**
 * The only reader of configuration: environment, `*_FILE` secrets, a `.env` file and CLI flags.
 * Everything else receives the frozen {@link Config} this returns.
 *
 * Precedence for every setting: CLI flag, then the process environment, then `.env` in the
 * working directory, then the default. `DATABASE_URL` / `RABBITMQ_URL` override their parts.
 */
import { readFileSync } from "node:fs";
import { brokerUrlProblem } from "./amqp-url.ts";
import { formatHost, parseHostList, splitDatabaseUrl, TARGET_SESSION_ATTRS, type DatabaseHost, type TargetSessionAttrs } from "./db-hosts.ts";
import { parseDotenv } from "./dotenv.ts";
import { isFernetKey } from "./fernet.ts";
import { LOG_FORMATS, parseLogLevel, type LogFormat, type LogLevel } from "./levels.ts";
import { maskUrl } from "./redact.ts";

export interface DatabaseConfig {
  /** The first of {@link hosts}. */
  readonly host: string;
  readonly port: number;
  /** Every host, tried in turn (POSTGRES_HOST=a,b:5433 or a multi-host DATABASE_URL). */
  readonly hosts: readonly DatabaseHost[];
  /** `?target_session_attrs=` in DATABASE_URL; null (libpq's `any`) accepts any server. */
  readonly targetSessionAttrs: TargetSessionAttrs | null;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** TLS, from `?sslmode=` in DATABASE_URL: disable (default), prefer, require or verify-full. */
  readonly sslmode: SslMode;
  /** Where, for messages: `user@host:port,host2:port2/db`, never a password. */
  readonly where: string;
}

export const SSL_MODES = ["disable", "prefer", "require", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface BrokerConfig {
  /** Full AMQP URL with credentials of the first node: pass only to amqplib, never log it. */
  readonly url: string;
  /** Redacted form for messages: every node, comma-separated. */
  readonly where: string;
  /** Every node's URL (credentials included), in the order given; tried in turn on each connect. */
  readonly urls: readonly string[];
  /** `urls`, redacted, same order. */
  readonly wheres: readonly string[];
  readonly vhost: string;
  readonly queue: string;
  readonly queueType: "classic" | "quorum";
}

export interface Config {
  readonly db: DatabaseConfig;
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
  readonly shutdownTimeoutMs: number;
  readonly notifyChannel: string | null;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly encryptionKey: string | null;
  /** Every secret value in effect, so the logger can scrub them from any output. */
  readonly secrets: readonly string[];
}

/** setTimeout's limit: a longer delay fires at once, so e.g. a poll interval past it is a 1 ms hot loop. */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/**
 * The look-ahead is added to now() in the poll (`make_interval`) and becomes an in-process timer.
 * A day keeps both far inside their limits (a huge value made every poll fail with "interval out
 * of range"); a longer window only makes every poll read more rows, since the next poll re-reads
 * them anyway.
 */
export const MAX_LOOK_AHEAD_MS = 86_400_000;
/** PostgreSQL int4: failure_count is one, so a larger threshold could never be reached. */
const MAX_INT4 = 2 ** 31 - 1;
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

type Kind = "string" | "secret" | "url";
interface Setting {
  readonly env: string;
  readonly default: string | null;
  readonly kind: Kind;
}

const s = (env: string, def: string | null, kind: Kind = "string"): Setting => ({ env, default: def, kind });

/** Every variable the program reads. Secrets and URLs have no CLI flag: flags show in `ps`. */
export const SETTINGS = [
  s("DATABASE_URL", null, "url"),
  s("POSTGRES_HOST", "db"),
  s("POSTGRES_PORT", "5432"),
  s("POSTGRES_DB", "rune"),
  s("POSTGRES_USER", "postgres"),
  s("POSTGRES_PASSWORD", "postgres", "secret"),
  s("RABBITMQ_URL", null, "url"),
  s("RABBITMQ_HOST", "rabbitmq"),
  s("RABBITMQ_PORT", "5672"),
  s("RABBITMQ_USER", "guest"),
  s("RABBITMQ_PASSWORD", "guest", "secret"),
  s("RABBITMQ_QUEUE", "workflow_queue"),
  s("RABBITMQ_QUEUE_TYPE", "classic"),
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
  s("SCHEDULER_SHUTDOWN_TIMEOUT", "10"),
  s("SCHEDULER_NOTIFY_CHANNEL", null),
  s("LOG_LEVEL", "INFO"),
  s("LOG_FORMAT", "text"),
  s("ENCRYPTION_KEY", null, "secret"),
] as const satisfies readonly Setting[];

type SettingName = (typeof SETTINGS)[number]["env"];

/** `SCHEDULER_POLL_INTERVAL` → `poll-interval`, `POSTGRES_HOST` → `postgres-host`. */
export function flagName(env: string): string {
  return env.replace(/^SCHEDULER_/, "").toLowerCase().replaceAll("_", "-");
}

/** The settings that may be given as CLI flags (everything but secrets and URLs). */
export const FLAG_SETTINGS = SETTINGS.filter((setting) => setting.kind === "string");

export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Flags by env name, already parsed by the CLI layer. */
  readonly flags?: Readonly<Record<string, string | undefined>>;
  /** Contents of `.env` in the working directory, if any. */
  readonly dotenv?: string | null;
  readonly readFile?: (path: string) => string;
}

/** Reads the process's real sources: `process.env` and `./.env`. */
export function processSources(flags: Record<string, string | undefined> = {}): ConfigSources {
  let dotenv: string | null = null;
  try {
    dotenv = readFileSync(".env", "utf8");
  } catch {
    dotenv = null; // no .env is the normal case
  }
  return { env: process.env, flags, dotenv, readFile: (path) => readFileSync(path, "utf8") };
}

/** Resolves and validates every setting; throws {@link ConfigError} on the first bad one. */
export function loadConfig(sources: ConfigSources): Config {
  const fromDotenv = sources.dotenv ? parseDotenv(sources.dotenv) : {};
  const readFile = sources.readFile ?? ((path: string) => readFileSync(path, "utf8"));
  const secrets: string[] = [];

  const lookup = (name: string): string | undefined =>
    sources.flags?.[name] ?? sources.env[name] ?? fromDotenv[name];

  const raw = (setting: Setting): string | null => {
    const direct = lookup(setting.env);
    const fileVar = `${setting.env}_FILE`;
    const file = lookup(fileVar);
    let value: string | null = direct ?? null;
    let isDefault = false;
    if (value === null) {
      if (file !== undefined && setting.kind !== "string") {
        try {
          value = readFile(file).replace(/\r?\n$/, "");
        } catch (error) {
          const reason = (error as NodeJS.ErrnoException).code ?? String(error);
          throw new ConfigError(fileVar, JSON.stringify(file), `a readable file (${reason})`);
        }
      } else {
        value = setting.default;
        isDefault = true;
      }
    }
    // Defaults ("postgres", "guest") are public knowledge; scrubbing them would mangle logs.
    if (value !== null && value !== "" && setting.kind !== "string" && !isDefault) secrets.push(value);
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
    if (setting.kind === "url") return JSON.stringify(maskUrl(value));
    return JSON.stringify(value);
  };
  const fail = (name: SettingName, expected: string): never => {
    throw new ConfigError(name, shown(name), expected);
  };

  /** Every count has an upper bound: what the code (or the column it lands in) can hold. */
  const number = (name: SettingName, opts: { min: number; max: number; integer?: boolean }): number => {
    const text = get(name).trim();
    const value = Number(text);
    const ok =
      text !== "" &&
      Number.isFinite(value) &&
      value >= opts.min &&
      value <= opts.max &&
      (!opts.integer || Number.isInteger(value));
    if (!ok) fail(name, `${opts.integer ? "a whole number" : "a number"} from ${opts.min} to ${opts.max}`);
    return value;
  };
  /**
   * Seconds (fractions allowed) → whole milliseconds, from 1 ms to `maxMs`: a positive value
   * under 1 ms would round to 0. `zero` allows 0 where it means "off".
   */
  const seconds = (name: SettingName, opts: { zero?: boolean; maxMs?: number } = {}): number => {
    const maxMs = opts.maxMs ?? MAX_DURATION_MS;
    const text = get(name).trim();
    const value = Number(text);
    const ms = Math.round(value * 1000);
    if (opts.zero && text !== "" && value === 0) return 0;
    if (text === "" || !Number.isFinite(value) || value * 1000 < 1 || ms > maxMs) {
      fail(name, `${opts.zero ? "0 or " : ""}a number of seconds from 0.001 to ${maxMs / 1000}`);
    }
    return ms;
  };

  const db = databaseConfig(get, fail);
  const mq = brokerConfig(get, fail);
  // Each node's URL carries the password, and an error may quote one URL rather than the list.
  if (get("RABBITMQ_URL") !== "") secrets.push(...mq.urls.filter((url) => parseUrl(url)?.password));

  const logLevel = parseLogLevel(get("LOG_LEVEL")) ?? fail("LOG_LEVEL", "one of DEBUG, INFO, WARNING, WARN, ERROR, CRITICAL");
  const format = get("LOG_FORMAT").trim().toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(format)) fail("LOG_FORMAT", "text or json");

  const notify = get("SCHEDULER_NOTIFY_CHANNEL").trim();
  if (notify !== "" && !/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(notify)) {
    fail("SCHEDULER_NOTIFY_CHANNEL", "a PostgreSQL identifier (letters, digits, _ and $; at most 63)");
  }
  const key = get("ENCRYPTION_KEY");
  if (key !== "" && !isFernetKey(key)) fail("ENCRYPTION_KEY", "a Fernet key: 32 bytes in URL-safe base64 (44 characters)");
  const httpHost = get("SCHEDULER_HTTP_HOST").trim();
  if (httpHost === "") fail("SCHEDULER_HTTP_HOST", "a host name or address to listen on");

  const config: Config = {
    db,
    mq,
    pollIntervalMs: seconds("SCHEDULER_POLL_INTERVAL"),
    lookAheadMs: seconds("SCHEDULER_LOOK_AHEAD", { zero: true, maxMs: MAX_LOOK_AHEAD_MS }),
    batchSize: number("SCHEDULER_BATCH_SIZE", { min: 1, max: 10_000, integer: true }),
    maxMessageBytes: number("SCHEDULER_MAX_MESSAGE_BYTES", { min: 1, max: 512 * 1024 * 1024, integer: true }),
    misfireGraceMs: seconds("SCHEDULER_MISFIRE_GRACE", { zero: true }),
    pauseAfterFailures: number("SCHEDULER_PAUSE_AFTER_FAILURES", { min: 0, max: MAX_INT4, integer: true }),
    maxRetries: number("SCHEDULER_MAX_RETRIES", { min: 0, max: MAX_INT4, integer: true }),
    maxOutageMs: seconds("SCHEDULER_MAX_OUTAGE", { zero: true }),
    batchBytes: number("SCHEDULER_BATCH_BYTES", { min: 1, max: MAX_BYTES, integer: true }),
    healthcheckIntervalMs: seconds("SCHEDULER_HEALTHCHECK_INTERVAL"),
    connectTimeoutMs: seconds("SCHEDULER_CONNECT_TIMEOUT"),
    httpHost,
    httpPort: number("SCHEDULER_HTTP_PORT", { min: 0, max: 65535, integer: true }),
    shutdownTimeoutMs: seconds("SCHEDULER_SHUTDOWN_TIMEOUT"),
    notifyChannel: notify === "" ? null : notify,
    logLevel,
    logFormat: format as LogFormat,
    encryptionKey: key === "" ? null : key,
    secrets: [...new Set(secrets)],
  };
  return Object.freeze(config);
}

type Getter = (name: SettingName) => string;
type Fail = (name: SettingName, expected: string) => never;

function port(get: Getter, fail: Fail, name: SettingName): number {
  const value = Number(get(name));
  if (!Number.isInteger(value) || value < 1 || value > 65535) fail(name, "a TCP port from 1 to 65535");
  return value;
}

function databaseConfig(get: Getter, fail: Fail): DatabaseConfig {
  const url = get("DATABASE_URL");
  const defaultPort = port(get, fail, "POSTGRES_PORT");
  let sslmode: SslMode = "disable";
  let targetSessionAttrs: TargetSessionAttrs | null = null;
  let hostList = get("POSTGRES_HOST");
  let hostVariable: SettingName = "POSTGRES_HOST";
  let parts = { database: get("POSTGRES_DB"), user: get("POSTGRES_USER"), password: get("POSTGRES_PASSWORD") };
  if (url !== "") {
    const split = splitDatabaseUrl(url);
    if (!split || split.hosts === "") fail("DATABASE_URL", "postgres://user:password@host:port/database");
    const { hosts, rest: u } = split!;
    const mode = u.searchParams.get("sslmode") ?? "disable";
    if (!(SSL_MODES as readonly string[]).includes(mode)) fail("DATABASE_URL", `sslmode to be one of ${SSL_MODES.join(", ")}`);
    sslmode = mode as SslMode;
    const attrs = u.searchParams.get("target_session_attrs") ?? "any";
    if (!(TARGET_SESSION_ATTRS as readonly string[]).includes(attrs)) {
      fail("DATABASE_URL", `target_session_attrs to be one of ${TARGET_SESSION_ATTRS.join(", ")}`);
    }
    targetSessionAttrs = attrs === "any" ? null : (attrs as TargetSessionAttrs);
    hostList = hosts;
    hostVariable = "DATABASE_URL";
    parts = {
      database: decodeURIComponent(u.pathname.replace(/^\//, "")) || parts.database,
      user: decodeURIComponent(u.username) || parts.user,
      password: u.password === "" ? parts.password : decodeURIComponent(u.password),
    };
  }
  // Several hosts are tried in turn (failover); a URL's hosts without a port take 5432, as in libpq.
  const hosts = parseHostList(hostList, url !== "" ? 5432 : defaultPort);
  if (!hosts) {
    fail(
      hostVariable,
      hostVariable === "POSTGRES_HOST"
        ? "a host name or address, or several separated by commas (host or host:port)"
        : "postgres://user:password@host:port/database (several hosts as host1:port1,host2:port2)",
    );
  }
  const first = hosts![0]!;
  const where = `${parts.user}@${hosts!.map(formatHost).join(",")}/${parts.database}`;
  return { ...parts, host: first.host, port: first.port, hosts: hosts!, targetSessionAttrs, sslmode, where };
}

function brokerConfig(get: Getter, fail: Fail): BrokerConfig {
  const queue = get("RABBITMQ_QUEUE");
  if (queue.trim() === "" || queue.length > 255 || queue.startsWith("amq.")) {
    fail("RABBITMQ_QUEUE", "a queue name of 1 to 255 characters not starting with amq.");
  }
  const queueType = get("RABBITMQ_QUEUE_TYPE").trim().toLowerCase();
  if (queueType !== "classic" && queueType !== "quorum") fail("RABBITMQ_QUEUE_TYPE", "classic or quorum");

  const { urls, vhost } = get("RABBITMQ_URL") !== "" ? brokerUrls(get, fail) : brokerHosts(get, fail);
  const wheres = urls.map(maskUrl);
  return { url: urls[0]!, where: wheres.join(","), urls, wheres, vhost, queue, queueType };
}

/**
 * Several nodes of one cluster: comma-separated URLs. A comma splits only where the next URL
 * starts, so a comma inside a password still works. One vhost for all: the queue lives in it.
 */
function brokerUrls(get: Getter, fail: Fail): { urls: string[]; vhost: string } {
  const urls = get("RABBITMQ_URL").split(/\s*,\s*(?=amqps?:\/\/)/i).map((url) => url.trim());
  const vhosts = urls.map((url) => {
    const parsed = parseUrl(url);
    // A comma in the host is a mistake ("amqp://a,b"), not a name: each node needs its own URL.
    if (!parsed || !["amqp:", "amqps:"].includes(parsed.protocol) || parsed.hostname === "" || parsed.hostname.includes(",")) {
      fail("RABBITMQ_URL", "amqp://user:password@host:port/vhost (or amqps://), comma-separated for several nodes");
    }
    const problem = brokerUrlProblem(url);
    if (problem !== null) fail("RABBITMQ_URL", problem);
    const path = parsed!.pathname.replace(/^\//, "");
    return path === "" ? "/" : decodeURIComponent(path);
  });
  const other = vhosts.find((vhost) => vhost !== vhosts[0]);
  if (other !== undefined) fail("RABBITMQ_URL", `the same vhost in every URL (found "${vhosts[0]}" and "${other}")`);
  return { urls, vhost: vhosts[0]! };
}

/** `RABBITMQ_HOST=a,b:5673,[::1]:5674`: each node on RABBITMQ_PORT unless it names its own. */
function brokerHosts(get: Getter, fail: Fail): { urls: string[]; vhost: string } {
  const expected = "host names or addresses, comma-separated, each optionally with :port (1 to 65535)";
  const defaultPort = port(get, fail, "RABBITMQ_PORT");
  const user = encodeURIComponent(get("RABBITMQ_USER"));
  const password = encodeURIComponent(get("RABBITMQ_PASSWORD"));
  const urls = get("RABBITMQ_HOST")
    .split(",")
    .map((entry) => {
      const node = splitHostPort(entry.trim());
      if (node === null || node.host === "") fail("RABBITMQ_HOST", expected);
      const amqpPort = node!.port === null ? defaultPort : Number(node!.port);
      if (!Number.isInteger(amqpPort) || amqpPort < 1 || amqpPort > 65535) fail("RABBITMQ_HOST", expected);
      const hostPart = node!.host.includes(":") ? `[${node!.host}]` : node!.host;
      return `amqp://${user}:${password}@${hostPart}:${amqpPort}`;
    });
  return { urls, vhost: "/" };
}

/** `h`, `h:p`, `[v6]`, `[v6]:p`, or a bare IPv6 address (two colons or more: no port). */
function splitHostPort(entry: string): { host: string; port: string | null } | null {
  const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ?? null };
  if (entry.startsWith("[")) return null;
  const colons = entry.split(":").length - 1;
  if (colons !== 1) return { host: entry, port: null };
  const [host, portText] = entry.split(":") as [string, string];
  return /^\d+$/.test(portText) ? { host, port: portText } : null;
}

function parseUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}
