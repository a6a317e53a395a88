/**
 * Pure: who may use the console. The bearer token compared in constant time, the Host header
 * against the addresses the console answers to (DNS rebinding), and an action's Origin against
 * the page's own (cross-site requests).
 */
import { createHash, scryptSync, timingSafeEqual } from "node:crypto";

/**
 * The audit's name for the token: enough to tell two tokens apart, and costly to guess a token
 * from. Any function of the token alone is an offline test of a guess (the audit table is read
 * by more people than hold the token), so it is a memory-hard scrypt with this product's own
 * salt, not a bare SHA-256: a prefix of that would pick a human-chosen 16-character token out
 * of a wordlist at a billion guesses a second, or from a table computed once for every
 * deployment. 32 bits: a collision among a handful of tokens is unlikely, a candidate check is
 * all a leak gives. A random token (openssl rand -hex 24) stays out of reach either way.
 */
export function tokenLabel(token: string | null | undefined): string {
  if (!token) return "no token";
  const key = scryptSync(token, "rune-scheduler console token label", 4, { N: 1 << 14, r: 8, p: 1 });
  return `token scrypt:${key.toString("hex")}`;
}

/**
 * Compares SHA-256 digests, not the strings: timingSafeEqual needs equal lengths, and comparing
 * the lengths first would tell an attacker the token's length.
 */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

/** The token of `Authorization: Bearer <token>`, or null. */
export function bearerToken(header: string | null): string | null {
  const match = /^Bearer +([^\s]+) *$/i.exec(header ?? "");
  return match ? match[1]! : null;
}

const LOOPBACK = /^(127(?:\.\d{1,3}){3}|\[?::1\]?|localhost)$/i;

/** `name:port` or `[v6]:port` → its parts, lowercased; null for anything else. */
export function splitHost(header: string): { name: string; port: number | null } | null {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!match) return null;
  return { name: match[1]!.toLowerCase(), port: match[2] === undefined ? null : Number(match[2]) };
}

export interface Bound {
  /** The address the server listens on, as configured (SCHEDULER_HTTP_HOST). */
  readonly host: string;
  readonly port: number;
}

/**
 * The Host header names the bound address (or, bound to a loopback address, `localhost` or
 * another loopback name: those cannot be rebound by a remote DNS), or an entry of
 * SCHEDULER_CONSOLE_HOSTS (`name` for any port, `name:port` for that one).
 */
export function hostAllowed(header: string | null, bound: Bound, extra: readonly string[]): boolean {
  if (header === null) return false;
  const host = splitHost(header);
  if (!host) return false;
  const boundName = bound.host.includes(":") && !bound.host.startsWith("[") ? `[${bound.host}]` : bound.host;
  const onPort = host.port === null ? bound.port === 80 : host.port === bound.port;
  if (onPort && host.name === boundName.toLowerCase()) return true;
  if (onPort && LOOPBACK.test(boundName) && LOOPBACK.test(host.name)) return true;
  return extra.some((entry) => {
    const allowed = splitHost(entry);
    if (!allowed || allowed.name !== host.name) return false;
    return allowed.port === null || allowed.port === (host.port ?? 80);
  });
}

/** An action comes from the console's own page: its Origin is this very host (Host already checked). */
export function sameOrigin(origin: string | null, host: string | null, secFetchSite: string | null): boolean {
  if (origin === null || host === null) return false;
  if (secFetchSite !== null && secFetchSite !== "same-origin") return false;
  return (
    origin.toLowerCase() === `http://${host.toLowerCase()}` || origin.toLowerCase() === `https://${host.toLowerCase()}`
  );
}
