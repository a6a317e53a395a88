/**
 * Through a pooler (POSTGRES_POOLER) the start-up packet carries no session limits, so every
 * transaction that holds row locks sets them itself (SET LOCAL). Shown here on a direct
 * connection opened as for a pooler: what the transaction sees is what it would see through
 * PgBouncer, where a session's own settings are not ours.
 */
import { expect, test } from "bun:test";
import { loadConfig } from "../../src/config/config.ts";
import { createDatabase } from "../../src/postgres/client.ts";
import { withLockTimeout } from "../../src/postgres/operator-rows.ts";
import { runBinary } from "../support/binary.ts";
import { testScope } from "../support/scope.ts";

const scope = testScope();

test("an operator verb's transaction (trigger publishes under its row lock) has every limit, not lock_timeout alone", async () => {
  const db = await scope.database();
  const config = loadConfig({ env: { ...db.env, POSTGRES_POOLER: "transaction", PGSSLMODE: "disable" } });
  const sql = createDatabase(config.db, { connectTimeoutMs: 5_000, max: 1 });
  scope.defer(() => sql.end({ timeout: 1 }));
  const show = (s: typeof sql) =>
    s<{ statement: string; lock: string; idle: string }[]>`
      SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock,
             current_setting('idle_in_transaction_session_timeout') AS idle`;
  // The pooled session itself has none of them: the start-up packet left them out.
  expect((await show(sql))[0]).toEqual({ statement: "0", lock: "0", idle: "0" });
  // A verb whose link is cut while it holds a row lock must not hold it for ever: without
  // idle_in_transaction_session_timeout the server (and the pooler) keep the lock, and the claims
  // skip that schedule (SKIP LOCKED) without a word.
  const inside = await withLockTimeout(sql, 2_000, async (tx) => (await show(tx))[0]);
  expect(inside).toEqual({ statement: "15s", lock: "2s", idle: "20s" });
  // SET LOCAL: nothing is left on the server connection for the pooler's next client.
  expect((await show(sql))[0]).toEqual({ statement: "0", lock: "0", idle: "0" });
});

test("check-db through a pooler warns when the role gives statements outside transactions no limit", async () => {
  const db = await scope.database();
  const env = { ...db.env, POSTGRES_POOLER: "transaction", PGSSLMODE: "disable" };
  const warning =
    "through a pooler (POSTGRES_POOLER=transaction), statements outside the scheduler's transactions (polls, stats, the console's reads) run with statement_timeout=0 and idle_in_transaction_session_timeout=0, i.e. no limit";
  const before = await runBinary(["check-db"], env);
  expect(before.code).toBe(0);
  expect(before.stdout).toContain(warning);
  expect(before.stdout).toContain(`ALTER ROLE postgres SET statement_timeout = '15s'`);
  // What the role (here the database, ours alone) gives every session the pooler opens.
  await db.sql.unsafe(`ALTER DATABASE ${db.name} SET statement_timeout = '15s'`);
  await db.sql.unsafe(`ALTER DATABASE ${db.name} SET idle_in_transaction_session_timeout = '20s'`);
  const after = await runBinary(["check-db"], env);
  expect(after.code).toBe(0);
  expect(after.stdout).not.toContain("statements outside the scheduler's transactions");
  // A direct connection sets them itself: nothing to say.
  expect((await runBinary(["check-db"], { ...db.env, PGSSLMODE: "disable" })).stdout).not.toContain("POSTGRES_POOLER");
});
