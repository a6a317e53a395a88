/**
 * Pure parsing of several PostgreSQL hosts, for failover: `POSTGRES_HOST=a,b:5433,[::1]:5434`
 * and a multi-host `DATABASE_URL` (`postgres://u:p@h1:5432,h2:5433/db?target_session_attrs=…`),
 * which `new URL` cannot read (its host part holds commas and several ports).
 */

export interface DatabaseHost {
  readonly host: string;
  readonly port: number;
}

/** What postgres.js accepts; libpq's `any` (the default) means no check, i.e. null. */
export const TARGET_SESSION_ATTRS = ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"] as const;
export type TargetSessionAttrs = Exclude<(typeof TARGET_SESSION_ATTRS)[number], "any">;

/** `a,b:5433,[::1]:5434` → hosts, each without a port taking `defaultPort`; null when malformed. */
export function parseHostList(text: string, defaultPort: number): DatabaseHost[] | null {
  const hosts: DatabaseHost[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    // [v6]:port, [v6], name:port, name, or a bare IPv6 address (more than one colon).
    const bareV6 = /^[0-9a-f.]*:[0-9a-f.]*:[0-9a-f.:]*$/i.test(entry);
    const match = bareV6
      ? [entry, entry]
      : (/^\[([^\]]+)\](?::(\d+))?$/.exec(entry) ?? /^([^:[\]]+)(?::(\d+))?$/.exec(entry));
    if (!match || match[1] === undefined || match[1] === "") return null;
    const port = match[2] === undefined ? defaultPort : Number(match[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
    hosts.push({ host: match[1], port });
  }
  return hosts.length > 0 ? hosts : null;
}

/** `host:port` for messages, IPv6 in brackets. */
export function formatHost({ host, port }: DatabaseHost): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Splits a postgres URL into its host list and a single-host URL (`localhost` in place of the
 * list) that `new URL` can read for the user, password, database and query; null when it is not
 * a postgres:// URL. The authority runs to the first `/`, `?` or `#`, and the user and password
 * to its LAST `@` (as the WHATWG URL parser reads it): a password holding a literal `@` stays
 * whole instead of lending its tail to the host name, which an error would then print.
 */
export function splitDatabaseUrl(url: string): { hosts: string; rest: URL } | null {
  const match = /^(postgres(?:ql)?:\/\/)(?:([^/?#]*)@)?([^/?#]*)(.*)$/i.exec(url.trim());
  if (!match) return null;
  const [, scheme, userinfo, hosts, tail] = match;
  try {
    return {
      hosts: decodeURIComponent(hosts!),
      rest: new URL(`${scheme}${userinfo === undefined ? "" : `${userinfo}@`}localhost${tail}`),
    };
  } catch {
    return null;
  }
}

/**
 * An `@` after a URL's authority (in its path, query or fragment): almost always a password
 * holding an unencoded `/`, `?` or `#`, which ends the authority early, so part of the password
 * would be taken for the host, port or database and printed as such. Refused rather than guessed.
 */
export function atAfterAuthority(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*[/?#][\s\S]*@/i.test(url.trim());
}

/** What to write instead, for the error that refuses such a URL. */
export const ENCODE_RESERVED =
  "/ ? # and @ inside the user name, password or database percent-encoded (%2F %3F %23 %40)";

/** The password a postgres URL carries, decoded; "" when it carries none. */
export function databaseUrlPassword(url: string): string {
  return decodeUrlPart(splitDatabaseUrl(url)?.rest.password ?? "");
}

/** A percent-encoded part of a URL, decoded; as it is when it is not valid percent-encoding. */
export function decodeUrlPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
