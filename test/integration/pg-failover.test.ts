/**
 * Following a PostgreSQL failover: several hosts tried in turn (two fault proxies in front of the
 * one real server stand for a primary and its replacement), and a read-only session (25006, the
 * old primary after a failover) renews the pool instead of failing forever on the same sessions.
 */
import { describe, expect, test } from "bun:test";
import type { FaultProxy } from "../support/proxy.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, PG, waitFor } from "../support/services.ts";

const scope = testScope({
  env: { SCHEDULER_POLL_INTERVAL: "1", SCHEDULER_CONNECT_TIMEOUT: "2", SCHEDULER_MAX_RETRIES: "0" },
});

const proxy = (): Promise<FaultProxy> => scope.proxy(PG);

describe("several database hosts", () => {
  test("connects through the second host while the first is down, then follows back to the first", async () => {
    const { db, queue } = await scope.setup({ consume: true });
    const [a, b] = [await proxy(), await proxy()];
    await insertSchedules(db.sql, [{ dueInMs: 0, intervalSeconds: 1 }]);
    a.refuse();
    const scheduler = scope.start({
      ...db.env,
      ...queue.env,
      POSTGRES_HOST: `127.0.0.1:${a.port},127.0.0.1:${b.port}`,
    });
    await waitFor("a fire through the second host", () => queue.messages.length >= 1, 20_000);
    expect(b.acceptedConnections).toBeGreaterThan(0);

    // The second host dies (its connections cut), the first comes back.
    a.resume();
    b.refuse();
    b.reset();
    const before = queue.messages.length;
    await waitFor("fires again through the first host", () => queue.messages.length >= before + 2, 30_000);
    expect(a.openConnections).toBeGreaterThan(0);
    expect(b.openConnections).toBe(0);
    expect(scheduler.proc.exitCode).toBeNull();
  }, 60_000);
});

describe("a read-only session", () => {
  test("25006 renews the pool: fires resume once the database is writable, well before idle sessions expire", async () => {
    const { db, queue } = await scope.setup({ consume: true });
    await insertSchedules(db.sql, [{ dueInMs: 0, intervalSeconds: 1 }]);
    // New sessions of this database only are read-only, as on a standby.
    await db.sql.unsafe(`ALTER DATABASE ${db.name} SET default_transaction_read_only = on`);
    const scheduler = scope.start({ ...db.env, ...queue.env });
    await scheduler.waitForLine(/read-only/, 15_000);
    expect(queue.messages).toHaveLength(0);

    await db.sql.unsafe(`ALTER DATABASE ${db.name} RESET default_transaction_read_only`);
    // Unrenewed, the pool's read-only sessions would live until idle_timeout (60 s) and fail every claim.
    await waitFor("a fire once writable", () => queue.messages.length >= 1, 20_000);
    expect(scheduler.proc.exitCode).toBeNull();
  }, 60_000);
});
