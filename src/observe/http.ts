/** Health, readiness, metrics and stats over HTTP (Bun's own server), GET and HEAD only; other paths may be passed in. */

import { messageOf } from "../error-text.ts";
import type { TlsEntry } from "../tls/registry.ts";
import { currentProcessStats, renderMetrics, type StatsSource, statsDocument } from "./exposition.ts";
import { type HttpListener, type HttpTlsFiles, type ListenerLog, listenHttp } from "./http-listener.ts";
import type { Metrics } from "./metrics.ts";

export interface HealthSource {
  readonly metrics: Metrics;
  /** Milliseconds since the engine loop last went round. */
  loopIdleMs(): number;
  /** How long the loop may stay idle before it counts as stuck. */
  readonly staleAfterMs: number;
  /** What `/stats` renders (see {@link statsDocument}). */
  stats(): StatsSource;
  /** Every TLS connection target, for the certificate-expiry gauge (src/tls/registry.ts). */
  tls?(): readonly TlsEntry[];
}

function healthStatus(source: HealthSource): { ok: boolean; reason: string } {
  const idle = source.loopIdleMs();
  if (idle > source.staleAfterMs)
    return { ok: false, reason: `engine loop has not run for ${Math.round(idle / 1000)}s` };
  return { ok: true, reason: "ok" };
}

/** Ready only while this replica can fire: both links up and nothing stopping it (a block, a failing cycle, a lock). */
export function readiness(metrics: Metrics): { ok: boolean; reason: string } {
  if (metrics.notFiring) return { ok: false, reason: metrics.notFiring };
  const down = [!metrics.dbUp && "PostgreSQL", !metrics.mqUp && "RabbitMQ"].filter(Boolean);
  return down.length === 0 ? { ok: true, reason: "ok" } : { ok: false, reason: `not connected: ${down.join(", ")}` };
}

/** Every answer, errors included, is built here, so none of them can be cached by a proxy. */
const NO_STORE = { "cache-control": "no-store" } as const;

const text = (body: string, status = 200, type = "text/plain; charset=utf-8", extra: Record<string, string> = {}) =>
  new Response(body, { status, headers: { "content-type": type, ...NO_STORE, ...extra } });

export function handleRequest(request: Request, source: HealthSource): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text("method not allowed\n", 405, undefined, { allow: "GET, HEAD" });
  }
  try {
    return route(pathOf(request.url), source);
  } catch {
    // Not the error's text: an answer on a port is no place for internals.
    return text("internal error\n", 500);
  }
}

function route(path: string, source: HealthSource): Response {
  switch (path) {
    case "/healthz": {
      const health = healthStatus(source);
      return text(`${health.reason}\n`, health.ok ? 200 : 503);
    }
    case "/readyz": {
      const ready = readiness(source.metrics);
      return text(`${ready.reason}\n`, ready.ok ? 200 : 503);
    }
    case "/metrics":
      return text(
        renderMetrics(source.metrics, currentProcessStats(source.metrics.startedMs), source.tls?.() ?? []),
        200,
        "text/plain; version=0.0.4; charset=utf-8",
      );
    case "/stats":
      return text(`${JSON.stringify(statsDocument(source.stats()))}\n`, 200, "application/json");
    default:
      return text("not found\n", 404);
  }
}

/**
 * The path of a request's URL. Bun builds the URL from the Host header, so a Host that is no
 * host name (`a:1.evil`) or none at all (HTTP/1.0) leaves a URL that does not parse: the path
 * is still the request's own.
 */
export function pathOf(url: string): string {
  const match = /^(?:[a-z][a-z0-9+.-]*:\/\/[^/?#]*)?([^?#]*)/i.exec(url);
  return match?.[1] || "/";
}

/** What a handler may ask of the server about its request. */
export interface Peer {
  /** The client's address. */
  readonly remote: string;
  /**
   * Why the server refuses this request before routing it (a declared body over
   * {@link MAX_REQUEST_BYTES}), or null: a handler that takes the request answers this 413 in
   * its own form, without looking at anything else.
   */
  readonly tooLarge: string | null;
  /** Lifts the server's idle timeout for this request (a long-lived stream). */
  keepOpen(): void;
  /** Gives the request a short idle timeout again, so the server closes a connection whose client stopped reading. */
  letClose(): void;
}

/** A handler for more paths (the operator console): null leaves the request to the probes. */
type ExtraRoutes = (request: Request, peer: Peer) => Response | Promise<Response> | null;

/**
 * The largest request body the server takes at all (the console's actions take 16 KiB; the
 * probes none). A declared length over it is refused by our own handler before routing (see
 * {@link oversized}); a body without one is cut off by the handler that reads it, and no other
 * handler reads a body.
 */
export const MAX_REQUEST_BYTES = 64 * 1024;

/**
 * Bun's own limit, only a backstop: Bun refuses a declared length over it itself, with a bare
 * 413 that has no reason and no headers of ours, so it is set where no length reaches it and
 * {@link MAX_REQUEST_BYTES} is enforced by our handler. That costs no memory: Bun calls the
 * handler once the head is in, reads a body only as the handler pulls it, and closes the
 * connection when an answer leaves a body unread (a 150 MB declared or chunked body refused
 * unread left the process's RSS as it was).
 */
const BUN_BODY_BACKSTOP = Number.MAX_SAFE_INTEGER;

/** Why a request's declared body is more than the server takes, or null. */
export function oversized(request: Request): string | null {
  const declared = request.headers.get("content-length");
  if (declared === null || Number(declared) <= MAX_REQUEST_BYTES) return null;
  return `the request body is larger than ${MAX_REQUEST_BYTES} bytes, the most this server takes`;
}

/** Serves on `host:port`, over HTTPS when `tls` names a certificate and key (re-read when they change). */
export function startHttp(
  host: string,
  port: number,
  source: HealthSource,
  extra?: ExtraRoutes,
  tls: HttpTlsFiles | null = null,
  log: ListenerLog = { info: () => {}, error: () => {} },
): HttpListener {
  return listenHttp(
    host,
    port,
    tls,
    {
      maxRequestBodySize: BUN_BODY_BACKSTOP,
      fetch: (request, server) => {
        const tooLarge = oversized(request);
        const peer: Peer = {
          remote: server.requestIP(request)?.address ?? "unknown",
          tooLarge,
          keepOpen: () => server.timeout(request, 0),
          letClose: () => server.timeout(request, 1),
        };
        return (
          extra?.(request, peer) ?? (tooLarge === null ? handleRequest(request, source) : text(`${tooLarge}\n`, 413))
        );
      },
      // Whatever still escapes (Bun's own errors) is answered in the same uncacheable form.
      error: () => text("internal error\n", 500),
    },
    log,
  );
}

/** The HTTP server could not listen: thrown by startService before anything connects. */
export class ListenError extends Error {
  readonly code: string;
  constructor(
    readonly host: string,
    readonly port: number,
    override readonly cause: unknown,
  ) {
    const code = String((cause as { code?: unknown })?.code ?? "");
    super(`could not listen on ${host}:${port}: ${messageOf(cause)}`);
    this.name = "ListenError";
    this.code = code;
  }
}
