import { describe, expect, test } from "bun:test";
import { localBaseUrl, parseUrlArg } from "../../src/commands/http-probe.ts";
import { type HealthSource, handleRequest, MAX_REQUEST_BYTES, oversized, pathOf } from "../../src/observe/http.ts";
import { createMetrics, LAG_BUCKETS, observeLag } from "../../src/observe/metrics.ts";
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

const get = (path: string, health = source(), method = "GET") =>
  handleRequest(new Request(`http://127.0.0.1:8080${path}`, { method }), health);

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

  test("sends Cache-Control: no-store on every answer: 200, 503, 404, 405, HEAD and 500", () => {
    const failing: HealthSource = {
      ...source(),
      stats: () => {
        throw new Error("boom");
      },
    };
    const answers: [string, Response, number][] = [
      ["GET /healthz", get("/healthz"), 200],
      ["GET /healthz stale", get("/healthz", source({ idleMs: 125_400 })), 503],
      ["GET /readyz", get("/readyz"), 200],
      ["GET /readyz down", get("/readyz", source({ dbUp: false })), 503],
      ["GET /metrics", get("/metrics"), 200],
      ["GET /stats", get("/stats"), 200],
      ["HEAD /metrics", get("/metrics", source(), "HEAD"), 200],
      ["GET /nope", get("/nope"), 404],
      ["POST /healthz", get("/healthz", source(), "POST"), 405],
      ["DELETE /nope", get("/nope", source(), "DELETE"), 405],
      ["GET /stats failing", get("/stats", failing), 500],
    ];
    for (const [what, response, status] of answers) {
      expect([what, response.status, response.headers.get("cache-control")]).toEqual([what, status, "no-store"]);
    }
  });

  test("a failing handler answers 500 without its error text", async () => {
    const failing: HealthSource = {
      ...source(),
      stats: () => {
        throw new Error("secret detail");
      },
    };
    const response = get("/stats", failing);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("internal error\n");
  });
});

describe("pathOf", () => {
  test("refuses a declared body over the server's maximum, with the bound in the reason, and nothing else", () => {
    const declaring = (length: string | null) =>
      new Request("http://127.0.0.1:8080/console/api/schedules/1/pause", {
        method: "POST",
        headers: length === null ? {} : { "content-length": length },
      });
    expect(oversized(declaring(null))).toBeNull();
    expect(oversized(declaring("0"))).toBeNull();
    expect(oversized(declaring(String(MAX_REQUEST_BYTES)))).toBeNull();
    expect(oversized(declaring(String(MAX_REQUEST_BYTES + 1)))).toBe(
      `the request body is larger than ${MAX_REQUEST_BYTES} bytes, the most this server takes`,
    );
    expect(oversized(declaring(String(150 * 1024 * 1024)))).toContain("larger than 65536 bytes");
    // A length that is no number is no length to trust.
    expect(oversized(declaring("many"))).toContain("larger than");
  });

  test("the path of a URL Bun built from an odd Host, or from none (HTTP/1.0), as of any other", () => {
    expect(pathOf("http://127.0.0.1:8080/console/api/session?x=1")).toBe("/console/api/session");
    expect(pathOf("http://127.0.0.1:8080.evil.com/console/")).toBe("/console/");
    expect(pathOf("/healthz")).toBe("/healthz");
    expect(pathOf("http://[::1]:80")).toBe("/");
    expect(pathOf("")).toBe("/");
    expect(() => new URL("http://127.0.0.1:8080.evil.com/console/")).toThrow();
  });
});

describe("/stats", () => {
  /** Every number in the document, with its path. */
  const numbers = (value: unknown, path = ""): [string, number][] => {
    if (typeof value === "number") return [[path, value]];
    if (Array.isArray(value)) return value.flatMap((item, i) => numbers(item, `${path}[${i}]`));
    if (value !== null && typeof value === "object")
      return Object.entries(value).flatMap(([key, item]) => numbers(item, path ? `${path}.${key}` : key));
    return [];
  };

  interface StatsJson extends Record<string, unknown> {
    lag: { buckets: { leMs: number; count: number }[]; count: number; sumMs: number };
  }
  const statsOf = async (health: HealthSource = source()) => (await get("/stats", health).json()) as StatsJson;

  function busySource(): HealthSource {
    const health = source();
    Object.assign(health.metrics, {
      lastCheckMs: 1_795_000_120_500.734,
      lastExecutionMs: 1_795_000_119_000.25,
      oldestOverdueSeconds: 93.5004567,
    });
    for (const lag of [0.0012345, 0.004, 0.02, 0.3, 7.25, 400]) observeLag(health.metrics, lag);
    return { ...health, stats: () => ({ ...health.metrics, clockOffsetMs: -3.4567 }) };
  }

  test("has no fractional milliseconds anywhere", async () => {
    const document = await statsOf(busySource());
    const fractional = numbers(document).filter(
      ([path, value]) => !path.endsWith("oldestOverdueSeconds") && !Number.isInteger(value),
    );
    expect(fractional).toEqual([]);
    expect(document).toMatchObject({
      lastCheckMs: 1_795_000_120_501,
      lastExecutionMs: 1_795_000_119_000,
      clockOffsetMs: -3,
      oldestOverdueMs: 93_500,
      oldestOverdueSeconds: 93.5,
      startedMs: 1_795_000_000_000,
    });
  });

  test("gives each lag bucket its bound in milliseconds beside its cumulative count", async () => {
    const { lag } = await statsOf(busySource());
    expect(lag.buckets.map((bucket) => bucket.leMs)).toEqual(LAG_BUCKETS.map((bound) => Math.round(bound * 1000)));
    expect(lag.buckets.map((bucket) => bucket.leMs)).toEqual([
      5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
    ]);
    expect(lag.buckets.slice(0, 4)).toEqual([
      { leMs: 5, count: 2 },
      { leMs: 10, count: 2 },
      { leMs: 25, count: 3 },
      { leMs: 50, count: 3 },
    ]);
    expect(lag.buckets.at(-1)).toEqual({ leMs: 300_000, count: 5 });
    expect(lag.count).toBe(6);
    expect(lag.sumMs).toBe(Math.round((0.0012345 + 0.004 + 0.02 + 0.3 + 7.25 + 400) * 1000));
  });

  test("keeps the counters the stats command reads", async () => {
    const document = await statsOf();
    expect(Object.keys(document)).toEqual(
      expect.arrayContaining([
        "checks",
        "executions",
        "failures",
        "skipped",
        "missed",
        "paused",
        "unknown",
        "lastCheckMs",
        "lastExecutionMs",
        "dbUp",
        "mqUp",
        "dueBacklog",
        "oldestOverdueMs",
        "oldestOverdueSeconds",
        "invalidRows",
        "pausedNow",
        "lag",
        "startedMs",
        "clockOffsetMs",
      ]),
    );
    expect(document).toMatchObject({ lastCheckMs: null, lastExecutionMs: null, executions: 7 });
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
    expect(parseUrlArg("localhost:8080")).toEqual({
      error: '--url "localhost:8080" is invalid: expected http://host:port',
    });
    expect(parseUrlArg("ftp://x")).toHaveProperty("error");
  });
});
