/**
 * The TLS in effect per connection target, for both engines: the adapters record what their
 * last handshake with a host gave (`recordTls`), and check-db, check-mq, run's start line,
 * /stats, the console and the certificate-expiry gauge read it back. One per process; a host's
 * entry is replaced by its next connection, so a rotated certificate shows from then on.
 */
import type { TlsState } from "./state.ts";

export type TlsEngine = "postgresql" | "rabbitmq";

export interface TlsEntry {
  readonly engine: TlsEngine;
  /** `host:port` as the messages show it. */
  readonly host: string;
  readonly state: TlsState;
}

export interface TlsRegistry {
  record(engine: TlsEngine, host: string, state: TlsState): void;
  /** Every target seen, in the order first seen. */
  entries(): readonly TlsEntry[];
  /** The last state of one target, if it connected. */
  get(engine: TlsEngine, host: string): TlsState | undefined;
}

export function createTlsRegistry(): TlsRegistry {
  const byKey = new Map<string, TlsEntry>();
  return {
    record(engine, host, state) {
      byKey.set(`${engine} ${host}`, { engine, host, state });
    },
    entries: () => [...byKey.values()],
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
