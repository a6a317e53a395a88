/**
 * `target_session_attrs=read-write` keeps the pool off a hot standby (patches/postgres+3.4.9.patch).
 * PostgreSQL 14 and later report `in_hot_standby` and `default_transaction_read_only` at
 * start-up, and a standby reports `default_transaction_read_only = off`: it is read-only because
 * it is in recovery, not by that setting. postgres.js 3.4.9 judged read-write by that setting
 * alone, so it accepted a standby, and every claim then failed with "read-only transaction".
 * libpq rejects a session that is either in hot standby or read-only by default; so does the
 * patched library. A proxy that reports the real server as a standby stands in for one here
 * (test/support/standby-mask.ts); the HA suite does it on a real standby.
 */
import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { testScope } from "../support/scope.ts";
import { PG } from "../support/services.ts";
import { startStandbyMask } from "../support/standby-mask.ts";

const scope = testScope();

async function mask() {
  const standby = await startStandbyMask(PG);
  scope.defer(() => standby.close());
  return standby;
}

/** A pool over `ports` in turn; `attrs` null is libpq's `any`, which postgres.js spells as no option. */
function connect(ports: number[], attrs: string | null) {
  const hosts = ports.map((port) => `${PG.host}:${port}`).join(",");
  const query = attrs === null ? "" : `?target_session_attrs=${attrs}`;
  const sql = postgres(`postgres://${PG.user}@${hosts}/postgres${query}`, {
    connect_timeout: 2,
    max: 1,
    onnotice: () => {},
  });
  scope.defer(() => sql.end({ timeout: 0 }));
  return sql;
}

describe("target_session_attrs against a hot standby (PostgreSQL 14+)", () => {
  test("the mask passes a session through as it is when any server will do", async () => {
    const standby = await mask();
    const [row] = await connect([standby.port], null)`SELECT pg_is_in_recovery() AS recovery`;
    expect(row!.recovery).toBe(false);
    expect(standby.accepted).toBe(1);
  });

  test("read-write refuses a standby that is the only host", async () => {
    const standby = await mask();
    await expect(connect([standby.port], "read-write")`SELECT 1`).rejects.toThrow();
    expect(standby.accepted).toBeGreaterThan(0);
  });

  test("read-write passes over a standby to the primary after it", async () => {
    const standby = await mask();
    const sql = connect([standby.port, PG.port], "read-write");
    const [row] = await sql`SELECT current_setting('transaction_read_only') AS ro`;
    expect(row).toEqual({ ro: "off" });
    // Tried first, then let go: the session in use is not the one through the standby.
    expect(standby.accepted).toBeGreaterThan(0);
    expect(standby.open).toBe(0);
  });

  test("read-only and standby accept it; primary refuses it", async () => {
    const standby = await mask();
    expect((await connect([standby.port], "read-only")`SELECT 1 AS one`)[0]).toEqual({ one: 1 });
    expect((await connect([standby.port], "standby")`SELECT 1 AS one`)[0]).toEqual({ one: 1 });
    await expect(connect([standby.port], "primary")`SELECT 1`).rejects.toThrow();
  });
});

describe("the scheduler with only a standby reachable", () => {
  test("says no host accepted a read-write session, and never that the pool was established", async () => {
    const { db, queue } = await scope.setup();
    const standby = await mask();
    const scheduler = scope.start({
      ...queue.env,
      DATABASE_URL: `postgres://${PG.user}@${PG.host}:${standby.port}/${db.name}?target_session_attrs=read-write`,
      SCHEDULER_CONNECT_TIMEOUT: "2",
      SCHEDULER_MAX_RETRIES: "0",
    });
    await scheduler.waitForLine(/accepted a read-write session/, 20_000);
    expect(scheduler.output()).not.toContain("Database connection pool established");
  });
});
