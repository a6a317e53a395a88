/** Health, readiness, metrics and stats over HTTP (Bun's own server). GET and HEAD only. */
import type { Server } from "bun";
import { currentProcessStats, renderMetrics } from "./exposition.ts";
import type { Metrics } from "./metrics.ts";

export interface HealthSource {
  readonly metrics: Metrics;
  /** Milliseconds since the engine loop last went round. */
  loopIdleMs(): number;
  /** How long the loop may stay idle before it counts as stuck. */
  readonly staleAfterMs: number;
  /** The JSON for `/stats`. */
  stats(): unknown;
}

export function healthStatus(source: HealthSource): { ok: boolean; reason: string } {
  const idle = source.loopIdleMs();
  if (idle > source.staleAfterMs) return { ok: false, reason: `engine loop has not run for ${Math.round(idle / 1000)}s` };
  return { ok: true, reason: "ok" };
}

export function readiness(metrics: Metrics): { ok: boolean; reason: string } {
  const down = [!metrics.dbUp && "PostgreSQL", !metrics.mqUp && "RabbitMQ"].filter(Boolean);
  return down.length === 0 ? { ok: true, reason: "ok" } : { ok: false, reason: `not connected: ${down.join(", ")}` };
}

const text = (body: string, status = 200, type = "text/plain; charset=utf-8") =>
  new Response(body, { status, headers: { "content-type": type, "cache-control": "no-store" } });

export function handleRequest(request: Request, source: HealthSource): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const path = new URL(request.url).pathname;
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
        renderMetrics(source.metrics, currentProcessStats(source.metrics.startedMs)),
        200,
        "text/plain; version=0.0.4; charset=utf-8",
      );
    case "/stats":
      return text(JSON.stringify(source.stats()) + "\n", 200, "application/json");
    default:
      return text("not found\n", 404);
  }
}

export function startHttp(host: string, port: number, source: HealthSource): Server<undefined> {
  return Bun.serve({ hostname: host, port, fetch: (request) => handleRequest(request, source) });
}
