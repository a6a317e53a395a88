/**
 * The value parsers behind `loadConfig` (config.ts): numbers, durations and ports, and the
 * database and broker settings with their URLs. Each reads through `get` and reports through
 * `fail`, so the error names the variable and shows its value the way config.ts masks it.
 */

import { type AuthMechanism, type BrokerTlsConfig, brokerSecurity, tlsSwitch, withoutTlsQuery } from "./broker-tls.ts";
import { brokerUrlProblem } from "./broker-url.ts";
import {
  atAfterAuthority,
  type DatabaseHost,
  ENCODE_RESERVED,
  formatHost,
  parseHostList,
  splitDatabaseUrl,
  TARGET_SESSION_ATTRS,
  type TargetSessionAttrs,
} from "./database-hosts.ts";
import { type PostgresTlsConfig, postgresTlsConfig } from "./postgres-tls.ts";
import { maskUrl } from "./redact.ts";
import type { SettingName } from "./settings.ts";

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
  /** TLS as libpq reads it (postgres-tls.ts). */
  readonly tls: PostgresTlsConfig;
  /** Through a connection pooler: none (a direct server), or PgBouncer's pool mode (docs/install.md). */
  readonly pooler: Pooler;
  /** Where, for messages: `user@host:port,host2:port2/db`, never a password. */
  readonly where: string;
  /** The URL setting the address came from, for hints; absent when the POSTGRES_* parts gave it. */
  readonly urlName?: string;
  /** Where the address and the database name came from, for a connection error (see origin.ts). */
  readonly origin?: { readonly address: string; readonly database: string };
}

export const POOLERS = ["none", "session", "transaction"] as const;
export type Pooler = (typeof POOLERS)[number];

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
  /** "RABBITMQ_URL" when the nodes came from it (hints name the setting in use); absent: the parts. */
  readonly urlName?: string;
  /** Where the address came from, for a connection error (see origin.ts). */
  readonly origin?: { readonly address: string };
  /** TLS for the `amqps://` nodes (config/broker-tls.ts); absent: no TLS settings. */
  readonly tls?: BrokerTlsConfig;
  /** The SASL mechanism; absent: plain. */
  readonly auth?: AuthMechanism;
  /** What an operator should know at start (verification off, a key others can read). */
  readonly warnings?: readonly string[];
}

/** setTimeout's limit: a longer delay fires at once, so e.g. a poll interval past it is a 1 ms hot loop. */
const MAX_DURATION_MS = 2 ** 31 - 1;

/** The resolved value of a setting ("" when unset and without a default). */
export type Getter = (name: SettingName) => string;
/** Throws the setting's {@link ConfigError}: `expected` says what would have been accepted. */
export type Fail = (name: SettingName, expected: string) => never;

/** Every count has an upper bound: what the code (or the column it lands in) can hold. */
export function number(
  get: Getter,
  fail: Fail,
  name: SettingName,
  opts: { min: number; max: number; integer?: boolean },
): number {
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
}

/**
 * Seconds (fractions allowed) → whole milliseconds, from 1 ms to `maxMs`: a positive value
 * under 1 ms would round to 0. `zero` allows 0 where it means "off".
 */
export function seconds(
  get: Getter,
  fail: Fail,
  name: SettingName,
  opts: { zero?: boolean; maxMs?: number } = {},
): number {
  const maxMs = opts.maxMs ?? MAX_DURATION_MS;
  const text = get(name).trim();
  const value = Number(text);
  const ms = Math.round(value * 1000);
  if (opts.zero && text !== "" && value === 0) return 0;
  if (text === "" || !Number.isFinite(value) || value * 1000 < 1 || ms > maxMs) {
    fail(name, `${opts.zero ? "0 or " : ""}a number of seconds from 0.001 to ${maxMs / 1000}`);
  }
  return ms;
}

function port(get: Getter, fail: Fail, name: SettingName): number {
  const value = Number(get(name));
  if (!Number.isInteger(value) || value < 1 || value > 65535) fail(name, "a TCP port from 1 to 65535");
  return value;
}

/** `urlName`: what DATABASE_URL stands for in messages (SCHEDULER_NOTIFY_DATABASE_URL reads like it). */
export function databaseConfig(get: Getter, fail: Fail, home: string | null, urlName = "DATABASE_URL"): DatabaseConfig {
  const url = get("DATABASE_URL");
  const defaultPort = port(get, fail, "POSTGRES_PORT");
  let query: URLSearchParams | null = null;
  let targetSessionAttrs: TargetSessionAttrs | null = null;
  let hostList = get("POSTGRES_HOST");
  let hostVariable: SettingName = "POSTGRES_HOST";
  let parts = { database: get("POSTGRES_DB"), user: get("POSTGRES_USER"), password: get("POSTGRES_PASSWORD") };
  if (url !== "") {
    if (atAfterAuthority(url))
      fail("DATABASE_URL", `postgres://user:password@host:port/database, with ${ENCODE_RESERVED}`);
    const split = splitDatabaseUrl(url);
    if (!split || split.hosts === "") fail("DATABASE_URL", "postgres://user:password@host:port/database");
    const { hosts, rest: u } = split!;
    query = u.searchParams;
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
  const tls = postgresTlsConfig({ get, fail, query, home, urlName });
  const pooler = get("POSTGRES_POOLER").trim().toLowerCase();
  if (!(POOLERS as readonly string[]).includes(pooler)) fail("POSTGRES_POOLER", `one of ${POOLERS.join(", ")}`);
  return {
    ...parts,
    host: first.host,
    port: first.port,
    hosts: hosts!,
    targetSessionAttrs,
    tls,
    pooler: pooler as Pooler,
    where,
    ...(url !== "" ? { urlName } : {}),
  };
}

/** `portIsDefault`: RABBITMQ_PORT was not given, so a TLS node (RABBITMQ_TLS=on) takes 5671. */
export function brokerConfig(get: Getter, fail: Fail, portIsDefault = false): BrokerConfig {
  const queue = get("RABBITMQ_QUEUE");
  if (queue.trim() === "" || queue.length > 255 || queue.startsWith("amq.")) {
    fail("RABBITMQ_QUEUE", "a queue name of 1 to 255 characters not starting with amq.");
  }
  const queueType = get("RABBITMQ_QUEUE_TYPE").trim().toLowerCase();
  if (queueType !== "classic" && queueType !== "quorum") fail("RABBITMQ_QUEUE_TYPE", "classic or quorum");

  const fromUrl = get("RABBITMQ_URL") !== "";
  const { urls: given, vhost } = fromUrl ? brokerUrls(get, fail) : brokerHosts(get, fail, portIsDefault);
  const anyTls = given.some((url) => url.startsWith("amqps:"));
  // The URL's scheme decides; RABBITMQ_TLS=on beside a plain node is a request for TLS that
  // would otherwise be dropped without a word (password and messages in clear).
  if (fromUrl && tlsSwitch(get("RABBITMQ_TLS")) === true && given.some((url) => !/^amqps:/i.test(url))) {
    fail(
      "RABBITMQ_TLS",
      "amqps:// for every node of RABBITMQ_URL, whose scheme decides (amqp:// is plain AMQP, reached in clear), or RABBITMQ_TLS=off",
    );
  }
  const security = brokerSecurity(fromUrl ? given.map((url) => new URL(url)) : [], anyTls, get, fail);
  // The TLS parameters are ours to apply; amqplib and every message get the URL without them
  // (the key's password among them).
  const urls = fromUrl ? given.map(withoutTlsQuery) : given;
  const wheres = urls.map(maskUrl);
  return {
    url: urls[0]!,
    where: wheres.join(","),
    urls,
    wheres,
    vhost,
    queue,
    queueType,
    tls: security.tls,
    auth: security.auth,
    warnings: security.warnings,
    ...(fromUrl ? { urlName: "RABBITMQ_URL" } : {}),
  };
}

/**
 * Several nodes of one cluster: comma-separated URLs. A comma splits only where the next URL
 * starts, so a comma inside a password still works. One vhost for all: the queue lives in it.
 */
function brokerUrls(get: Getter, fail: Fail): { urls: string[]; vhost: string } {
  const urls = get("RABBITMQ_URL")
    .split(/\s*,\s*(?=amqps?:\/\/)/i)
    .map((url) => url.trim());
  const vhosts = urls.map((url) => {
    if (atAfterAuthority(url)) fail("RABBITMQ_URL", `amqp://user:password@host:port/vhost, with ${ENCODE_RESERVED}`);
    const parsed = parseUrl(url);
    // A comma in the host is a mistake ("amqp://a,b"), not a name: each node needs its own URL.
    if (
      !parsed ||
      !["amqp:", "amqps:"].includes(parsed.protocol) ||
      parsed.hostname === "" ||
      parsed.hostname.includes(",")
    ) {
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
function brokerHosts(get: Getter, fail: Fail, portIsDefault: boolean): { urls: string[]; vhost: string } {
  const expected = "host names or addresses, comma-separated, each optionally with :port (1 to 65535)";
  const tls = tlsSwitch(get("RABBITMQ_TLS"));
  if (tls === null) fail("RABBITMQ_TLS", "on or off");
  // RabbitMQ's TLS listener is on 5671 by convention, as amqps:// URLs default to it.
  const defaultPort = tls && portIsDefault ? 5671 : port(get, fail, "RABBITMQ_PORT");
  const scheme = tls ? "amqps" : "amqp";
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
      return `${scheme}://${user}:${password}@${hostPart}:${amqpPort}`;
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

export function parseUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}
