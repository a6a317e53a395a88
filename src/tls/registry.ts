/**
 * The TLS in effect per connection target, for both engines: the adapters record what their
 * last handshake with a host gave (`record`), and check-db, check-mq, run's start line,
 * /stats, the console and the certificate-expiry gauge read it back. One per process; a host's
 * entry is replaced by its next connection, so a rotated certificate shows from then on.
 *
 * The registry also counts each target's open connections, so the gauge carries only
 * certificates in use: a host nothing connects to any more (after a failover to another host, a
 * node gone from the cluster) drops out once its last connection has been closed for the grace
 * period (see `inUse`), instead of alerting on a certificate no connection presents.
 */
import type { TlsState } from "./state.ts";

export type TlsEngine = "postgresql" | "rabbitmq";

export interface TlsEntry {
  readonly engine: TlsEngine;
  /** `host:port` as the messages show it. */
  readonly host: string;
  readonly state: TlsState;
}

/** What a connection is to the registry: something that says when it closes (a socket, an amqplib connection). */
export interface Closable {
  once(event: "close", listener: () => void): unknown;
}

export interface TlsRegistry {
  /**
   * What the handshake with `host` gave. `connection`, when given, is counted open until it
   * emits `close`; an entry recorded without one has no known lifetime and stays in use.
   */
  record(engine: TlsEngine, host: string, state: TlsState, connection?: Closable): void;
  /** Every target seen, in the order first seen. */
  entries(): readonly TlsEntry[];
  /**
   * The targets in use at `nowMs`: a connection to them is open, or their last one closed less
   * than `graceMs` ago (a reconnect, or a pool that closes idle connections between polls, keeps
   * the series), or their lifetime is unknown. For the certificate-expiry gauge.
   */
  inUse(nowMs: number, graceMs: number): readonly TlsEntry[];
  /** The last state of one target, if it connected. */
  get(engine: TlsEngine, host: string): TlsState | undefined;
}

/** `now`: the clock a close is timed by (tests pass their own). */
export function createTlsRegistry(now: () => number = Date.now): TlsRegistry {
  const byKey = new Map<string, TlsEntry>();
  /** Per target with a known lifetime: its open connections, and when the last one closed. */
  const lives = new Map<string, { open: number; closedMs: number | null }>();
  return {
    record(engine, host, state, connection) {
      const key = `${engine} ${host}`;
      byKey.set(key, { engine, host, state });
      if (!connection) return;
      const life = lives.get(key) ?? { open: 0, closedMs: null };
      lives.set(key, life);
      life.open += 1;
      connection.once("close", () => {
        life.open -= 1;
        if (life.open === 0) life.closedMs = now();
      });
    },
    entries: () => [...byKey.values()],
    inUse: (nowMs, graceMs) =>
      [...byKey.entries()]
        .filter(([key]) => {
          const life = lives.get(key);
          return !life || life.open > 0 || life.closedMs === null || nowMs - life.closedMs < graceMs;
        })
        .map(([, entry]) => entry),
    get: (engine, host) => byKey.get(`${engine} ${host}`)?.state,
  };
}

/** The process's registry: connections are made in many places, and all of them report here. */
export const tlsRegistry: TlsRegistry = createTlsRegistry();

/**
 * One phrase for a line: `TLSv1.3, verified (full), server CN=db.example expires 2027-01-01`,
 * or `not encrypted`.
 */
export function describeTls(state: TlsState): string {
  if (!state.encrypted) return "not encrypted";
  const how =
    state.verified === "full" ? "verified (full)" : state.verified === "ca" ? "verified (CA only)" : "not verified";
  const parts = [`${state.protocol ?? "TLS"}, ${how}`];
  if (state.serverSubject)
    parts.push(
      `server ${state.serverSubject}${state.serverNotAfter ? ` expires ${state.serverNotAfter.slice(0, 10)}` : ""}`,
    );
  if (state.clientNotAfter) parts.push(`client certificate expires ${state.clientNotAfter.slice(0, 10)}`);
  return parts.join(", ");
}

/** Seconds from `nowMs` until each certificate of each target expires, for the gauge. */
export function certificateExpiries(
  entries: readonly TlsEntry[],
  nowMs: number,
): { engine: TlsEngine; host: string; certificate: "server" | "client"; seconds: number }[] {
  const rows: { engine: TlsEngine; host: string; certificate: "server" | "client"; seconds: number }[] = [];
  for (const { engine, host, state } of entries) {
    for (const [certificate, at] of [
      ["server", state.serverNotAfter],
      ["client", state.clientNotAfter],
    ] as const) {
      if (at) rows.push({ engine, host, certificate, seconds: Math.round((Date.parse(at) - nowMs) / 1000) });
    }
  }
  return rows;
}

/**
 * What `hosts` (as `host:port`) last negotiated: those that connected over TLS, else one entry
 * saying the connection is plain (postgres.js reports only a TLS handshake, so no entry means
 * no TLS).
 */
export function tlsOfHosts(
  registry: TlsRegistry,
  engine: TlsEngine,
  hosts: readonly string[],
): { host: string; state: TlsState }[] {
  const seen = hosts.flatMap((host) => {
    const state = registry.get(engine, host);
    return state ? [{ host, state }] : [];
  });
  return seen.length > 0 ? seen : [{ host: hosts.join(","), state: { encrypted: false } }];
}

/** `host: state; host: state` for a log line; undefined when no host of `engine` is known. */
export function tlsSummary(
  registry: TlsRegistry,
  engine: TlsEngine,
  hosts: readonly string[] | null,
): string | undefined {
  const known =
    hosts ??
    registry
      .entries()
      .filter((entry) => entry.engine === engine)
      .map((entry) => entry.host);
  if (known.length === 0) return undefined;
  return tlsOfHosts(registry, engine, known)
    .map(({ host, state }) => `${host}: ${describeTls(state)}`)
    .join("; ");
}

/**
 * How long a target's series outlives its last connection: long enough for a reconnect and for
 * the pool, which closes a connection idle for a minute, to open one at the next poll (so twice
 * the poll interval), and at least 15 minutes, so a broker's reconnect back-off does not make it
 * flicker.
 */
export function certificateGraceMs(pollIntervalMs: number): number {
  return Math.max(15 * 60_000, 2 * pollIntervalMs);
}
