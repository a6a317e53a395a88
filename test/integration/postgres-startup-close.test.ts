/**
 * Proves patches/postgres+3.4.9.patch at the library level. Unpatched, postgres.js 3.4.9 reconnects
 * with no delay when a server closes cleanly during start-up, and the query never settles
 * (porsager/postgres#1193); with several hosts that all fail it loops the same way (#1188).
 */
import { describe, expect, test } from "bun:test";
import net from "node:net";
import postgres from "postgres";
import { testScope } from "../support/scope.ts";
import { PG } from "../support/services.ts";

// Cleanups are bounded: an unpatched postgres.js never finishes ending a pool stuck in its reconnect loop.
const scope = testScope({ cleanupTimeoutMs: 2000 });

/** The outcome of `SELECT 1`, or "hang" if it has not settled within `ms`. */
async function outcome(sql: postgres.Sql, ms: number): Promise<{ result: string; code?: string; elapsedMs: number }> {
  const started = performance.now();
  const result = await Promise.race([
    sql`SELECT 1`.then(
      () => ({ result: "ok" }),
      (error: { code?: string }) => ({ result: "rejected", code: error.code }),
    ),
    Bun.sleep(ms).then(() => ({ result: "hang" })),
  ]);
  return { ...result, elapsedMs: performance.now() - started };
}

const CONNECT_TIMEOUT_S = 2;

/**
 * A pool, ended after the test. `host` and `port` may be arrays: postgres.js takes several hosts
 * at run time, though its types admit only one.
 */
function pool(options: Record<string, unknown>): postgres.Sql {
  const sql = postgres(options as postgres.Options<Record<string, postgres.PostgresType>>);
  scope.defer(() => sql.end({ timeout: 0 }));
  return sql;
}

/** A pool that tries 127.0.0.1:`port` first, then the real server. */
const firstThenTheRealServer = (port: number, connectTimeoutS: number) =>
  pool({
    host: ["127.0.0.1", PG.host],
    port: [port, PG.port],
    user: PG.user,
    database: "postgres",
    connect_timeout: connectTimeoutS,
    max: 1,
  });

describe("postgres.js start-up against a server that accepts and closes", () => {
  for (const mode of ["close", "garbage"] as const) {
    test(`rejects with CONNECTION_CLOSED within connect_timeout, retrying with back-off (${mode})`, async () => {
      const server = await scope.hostile(mode);
      const sql = pool({ host: "127.0.0.1", port: server.port, connect_timeout: CONNECT_TIMEOUT_S, max: 1 });
      const got = await outcome(sql, CONNECT_TIMEOUT_S * 1000 + 3000);
      expect(got.result).toBe("rejected");
      expect(got.code).toBe("CONNECTION_CLOSED");
      expect(got.elapsedMs).toBeLessThan(CONNECT_TIMEOUT_S * 1000 + 500);
      // Unpatched: thousands. Patched: the back-off (30 ms, 90 ms, 270 ms, ... jittered) fits a few in 2 s.
      expect(server.accepted).toBeGreaterThanOrEqual(1);
      expect(server.accepted).toBeLessThan(15);
    });
  }

  test("the error names the host and port that closed", async () => {
    const server = await scope.hostile("close");
    const sql = pool({ host: "127.0.0.1", port: server.port, connect_timeout: 1, max: 1 });
    const error = (await sql`SELECT 1`.catch((e: unknown) => e)) as {
      code: string;
      address: string;
      port: number;
      message: string;
    };
    expect(error.code).toBe("CONNECTION_CLOSED");
    expect(error.address).toBe("127.0.0.1");
    expect(error.port).toBe(server.port);
  });

  test("a close during start-up is retried: the query succeeds once the server answers", async () => {
    // Closes the first three connections, then forwards to the real server: a backend coming back.
    let accepted = 0;
    const server = net.createServer((client) => {
      client.on("error", () => {});
      if (accepted++ < 3) return void client.end();
      const upstream = net.connect(PG.port, PG.host);
      upstream.on("error", () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    scope.defer(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as net.AddressInfo).port;
    const sql = pool({ host: "127.0.0.1", port, user: PG.user, database: "postgres", connect_timeout: 5, max: 1 });
    const got = await outcome(sql, 8000);
    expect(got.result).toBe("ok");
    expect(accepted).toBe(4);
  });
});

describe("postgres.js with several hosts", () => {
  test("connects through the second host when the first closes during start-up", async () => {
    const server = await scope.hostile("close");
    const sql = firstThenTheRealServer(server.port, 3);
    const got = await outcome(sql, 6000);
    expect(got.result).toBe("ok");
  });

  test("moves on to the second host when the first is silent past connect_timeout", async () => {
    const silent = await scope.proxy(PG);
    silent.stall();
    const sql = firstThenTheRealServer(silent.port, 1);
    const got = await outcome(sql, 4000);
    expect(got.result).toBe("ok");
    expect(got.elapsedMs).toBeGreaterThan(900);
  });

  test("rejects with the last host's error when every host refuses, instead of looping", async () => {
    const [a, b] = [await scope.proxy(PG), await scope.proxy(PG)];
    a.refuse();
    b.refuse();
    const sql = pool({ host: ["127.0.0.1", "127.0.0.1"], port: [a.port, b.port], connect_timeout: 2, max: 1 });
    const got = await outcome(sql, 5000);
    expect(got.result).toBe("rejected");
    expect(got.elapsedMs).toBeLessThan(2500);
    expect(a.acceptedConnections + b.acceptedConnections).toBeLessThan(15);
  });

  test("target_session_attrs=read-write rejects when no host is writable, instead of looping", async () => {
    const [a, b] = [await scope.proxy(PG), await scope.proxy(PG)];
    // Both hosts are the one server, made to look like standbys for these sessions only.
    const sql = pool({
      host: ["127.0.0.1", "127.0.0.1"],
      port: [a.port, b.port],
      user: PG.user,
      database: "postgres",
      connect_timeout: 2,
      max: 1,
      target_session_attrs: "read-write",
      connection: { default_transaction_read_only: "on" },
    });
    const got = await outcome(sql, 5000);
    expect(got.result).toBe("rejected");
    expect(got.elapsedMs).toBeLessThan(2500);
    expect(a.acceptedConnections + b.acceptedConnections).toBeLessThan(15);
  });
});
