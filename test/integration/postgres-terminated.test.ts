/**
 * Proves the part of patches/postgres+3.4.9.patch about backends an administrator terminates
 * (`pg_terminate_backend`, SQLSTATE 57P01). Unpatched, postgres.js 3.4.9 rejects the query in
 * flight with an anonymous CONNECTION_CLOSED, dropping the server's FATAL error, and keeps that
 * error: the first query on the next connection is rejected with it although it succeeded.
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { testScope } from "../support/scope.ts";
import { PG } from "../support/services.ts";

const scope = testScope();

function pool(database: string): postgres.Sql {
  const sql = postgres({ ...PG, database, max: 1, onnotice: () => {} });
  scope.defer(() => sql.end({ timeout: 0 }));
  return sql;
}

/** The outcome of a query, as text: "ok …" or the error's code and message. */
const settled = (query: Promise<unknown>) =>
  query.then(
    (rows) => `ok ${JSON.stringify(rows)}`,
    (error: { code?: string; message?: string }) => `${error.code} ${error.message}`,
  );

test("a backend terminated by an administrator mid-query: the query fails with 57P01, and the next one on a new connection succeeds", async () => {
  const db = await scope.database({ schema: false });
  const sql = pool(db.name);
  const admin = pool(db.name);
  const [{ pid }] = (await sql`SELECT pg_backend_pid() AS pid`) as unknown as [{ pid: number }];
  const sleeping = settled(sql`SELECT pg_sleep(30)`);
  // Terminate only once the statement runs, so the FATAL arrives while it is in flight.
  for (let i = 0; i < 100; i++) {
    const [row] = await admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${pid} AND state = 'active'`;
    if (row!.n === 1) break;
    await Bun.sleep(20); // polling the server's own view; nothing to await instead
  }
  await admin`SELECT pg_terminate_backend(${pid})`;
  expect(await sleeping).toBe("57P01 terminating connection due to administrator command");
  expect(await settled(sql`SELECT 1 AS x`)).toBe('ok [{"x":1}]');
});
