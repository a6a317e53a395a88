import { describe, expect, test } from "bun:test";
import { localBaseUrl, parseUrlArg } from "../../src/commands/healthcheck.ts";
import { handleRequest, type HealthSource } from "../../src/http.ts";
import { createMetrics } from "../../src/metrics.ts";
import { parseExposition } from "../support/prometheus.ts";

/** A fake engine: connections up, loop idle for `idleMs`. */
function source(overrides: { idleMs?: number; dbUp?: boolean; mqUp?: boolean } = {}): HealthSource {
  const metrics = createMetrics(1_795_000_000_000);
  metrics.dbUp = overrides.dbUp ?? true;
  metrics.mqUp = overrides.mqUp ?? true;
  metrics.executions = 7;
  return {
    metrics,
    staleAfterMs: 120_000,
    loopIdleMs: () => overrides.idleMs ?? 50,
    stats: () => ({ ...metrics, clockOffsetMs: 3 }),
  };
}

const get = (path: string, health = source(), method = "GET") => handleRequest(new Request(`http://127.0.0.1:8080${path}`, { method }), health);

describe("handleRequest", () => {
  test("answers /healthz 200 while the loop is alive", async () => {
    const response = get("/healthz");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("ok\n");
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  test("answers /healthz 503 with the reason when the loop is stale", async () => {
    const response = get("/healthz", source({ idleMs: 125_400 }));
    expect(response.status).toBe(503);
    expect(await response.text()).toMatchInlineSnapshot(`
      "engine loop has not run for 125s
      "
    `);
  });

  test("stays healthy while a dependency is down (liveness is not readiness)", () => {
    expect(get("/healthz", source({ dbUp: false, mqUp: false })).status).toBe(200);
  });

  test("answers /readyz 200 only while both connections are up", async () => {
    expect(get("/readyz").status).toBe(200);
    const brokerDown = get("/readyz", source({ mqUp: false }));
    expect(brokerDown.status).toBe(503);
    expect(await brokerDown.text()).toBe("not connected: RabbitMQ\n");
    const bothDown = get("/readyz", source({ dbUp: false, mqUp: false }));
    expect(bothDown.status).toBe(503);
    expect(await bothDown.text()).toBe("not connected: PostgreSQL, RabbitMQ\n");
  });

  test("serves /metrics as valid Prometheus text 0.0.4", async () => {
    const response = get("/metrics");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const exposition = parseExposition(await response.text());
    expect(exposition.problems).toEqual([]);
    expect(exposition.families.get("rune_scheduler_executions_total")!.samples[0]!.value).toBe(7);
  });

  test("serves /stats as JSON", async () => {
    const response = get("/stats");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toMatchObject({ executions: 7, dbUp: true, mqUp: true, clockOffsetMs: 3 });
  });

  test("answers HEAD like GET", () => {
    expect(get("/healthz", source(), "HEAD").status).toBe(200);
    expect(get("/readyz", source({ dbUp: false }), "HEAD").status).toBe(503);
    expect(get("/metrics", source(), "HEAD").status).toBe(200);
  });

  test("refuses POST and other methods with 405 and an Allow header", () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = get("/healthz", source(), method);
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("GET, HEAD");
    }
  });

  test("answers 404 for unknown paths, including near misses", () => {
    for (const path of ["/", "/health", "/healthz/", "/metrics.txt", "/stats/x"]) expect(get(path).status).toBe(404);
  });

  test("ignores a query string", () => {
    expect(get("/healthz?verbose=1").status).toBe(200);
  });
});

describe("where healthcheck and stats knock", () => {
  test("probes loopback when the server listens on a wildcard address", () => {
    expect(localBaseUrl("0.0.0.0", 8080)).toBe("http://127.0.0.1:8080");
    expect(localBaseUrl("::", 8080)).toBe("http://[::1]:8080");
    expect(localBaseUrl("[::]", 8080)).toBe("http://[::1]:8080");
  });

  test("probes a specific address as it is, bracketing IPv6", () => {
    expect(localBaseUrl("127.0.0.1", 9000)).toBe("http://127.0.0.1:9000");
    expect(localBaseUrl("fd00::5", 9000)).toBe("http://[fd00::5]:9000");
    expect(localBaseUrl("scheduler.internal", 9000)).toBe("http://scheduler.internal:9000");
  });

  test("takes --url as a base, keeping a path prefix and dropping a trailing slash", () => {
    expect(parseUrlArg("http://10.1.2.3:8080/")).toEqual({ base: "http://10.1.2.3:8080" });
    expect(parseUrlArg("https://ops.example/rune/")).toEqual({ base: "https://ops.example/rune" });
    expect(parseUrlArg("localhost:8080")).toEqual({ error: '--url "localhost:8080" is invalid: expected http://host:port' });
    expect(parseUrlArg("ftp://x")).toHaveProperty("error");
  });
});
