/**
 * A server that accepts the TCP connection and then closes it (HAProxy with no healthy backend),
 * or answers garbage: every command gives one named line within SCHEDULER_CONNECT_TIMEOUT, and
 * `run` retries with back-off instead of opening hundreds of connections a second. (Unpatched
 * postgres.js 3.4.9 hung check-db and stats forever and stormed from run: porsager/postgres#1193.)
 */
import { describe, expect, test } from "bun:test";
import { runBinary } from "../support/binary.ts";
import type { HostileServer } from "../support/hostile.ts";
import { testScope } from "../support/scope.ts";
import { MQ_URL } from "../support/services.ts";

const CONNECT_TIMEOUT_S = 3;
/** Start-up of the binary, and a loaded machine. */
const MARGIN_MS = 2_500;

const scope = testScope();

const envFor = (server: HostileServer, extra: Record<string, string> = {}) => ({
  POSTGRES_HOST: "127.0.0.1",
  POSTGRES_PORT: String(server.port),
  RABBITMQ_URL: MQ_URL,
  SCHEDULER_CONNECT_TIMEOUT: String(CONNECT_TIMEOUT_S),
  ...extra,
});

const namedLine = (port: number) =>
  `PostgreSQL at 127.0.0.1:${port} closed the connection during start-up or before answering; is PostgreSQL itself listening there, or a proxy with no healthy backend? check POSTGRES_HOST/POSTGRES_PORT, the proxy's backends and the server log`;

for (const mode of ["close", "garbage"] as const) {
  describe(`a server that accepts and ${mode === "close" ? "closes" : "answers garbage"}`, () => {
    test("check-db exits 1 with the named line within the connect timeout", async () => {
      const server = await scope.hostile(mode);
      const started = performance.now();
      const { code, stdout, stderr } = await runBinary(["check-db"], envFor(server), { timeoutMs: 20_000 });
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toBe(`FAILED ${namedLine(server.port)}\n`);
      expect(performance.now() - started).toBeLessThan(CONNECT_TIMEOUT_S * 1000 + MARGIN_MS);
      expect(server.accepted).toBeLessThan(15);
    });

    test("stats exits 1 with the named line within the connect timeout", async () => {
      const server = await scope.hostile(mode);
      const started = performance.now();
      const { code, stderr } = await runBinary(["stats"], envFor(server), { timeoutMs: 20_000 });
      expect(code).toBe(1);
      expect(stderr).toContain(namedLine(server.port));
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(performance.now() - started).toBeLessThan(CONNECT_TIMEOUT_S * 1000 + MARGIN_MS);
      expect(server.accepted).toBeLessThan(15);
    });
  });
}

describe("run against a server that accepts and closes", () => {
  test("keeps retrying with back-off, logs the named line, and never storms", async () => {
    const server = await scope.hostile("close");
    const scheduler = scope.start(envFor(server, { SCHEDULER_MAX_RETRIES: "0", SCHEDULER_POLL_INTERVAL: "1" }));
    await scheduler.waitForLine(/closed the connection during start-up/, CONNECT_TIMEOUT_S * 1000 + MARGIN_MS);
    const seenAt = server.accepted;
    const windowStarted = performance.now();
    await Bun.sleep(5_000); // a measurement window, not a wait for an event
    const perSecond = ((server.accepted - seenAt) * 1000) / (performance.now() - windowStarted);
    // Unpatched: about 900 a second. Patched: a few per attempt, attempts a back-off apart.
    expect(perSecond).toBeLessThan(4);
    expect(server.accepted).toBeGreaterThan(seenAt); // still retrying
    expect(scheduler.proc.exitCode).toBeNull();
    expect(scheduler.output()).toContain(namedLine(server.port));
  }, 30_000);

  test("SCHEDULER_MAX_RETRIES bounds the attempts at start-up: exit 1 with a CRITICAL line", async () => {
    const server = await scope.hostile("close");
    const scheduler = scope.start(envFor(server, { SCHEDULER_MAX_RETRIES: "2", SCHEDULER_CONNECT_TIMEOUT: "1" }));
    const code = await Promise.race([scheduler.exited, Bun.sleep(20_000).then(() => "still running")]);
    expect(code).toBe(1);
    expect(scheduler.output()).toMatch(/CRITICAL/);
    expect(scheduler.output()).toContain("closed the connection during start-up");
    expect(server.accepted).toBeLessThan(30);
  }, 30_000);
});
