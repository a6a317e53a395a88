/**
 * The certificate-expiry gauge follows the connections: a real PostgreSQL over TLS (a server of
 * the test's own), reached through our sslOption, stays in the registry's "in use" set while a
 * connection is open and within the grace period after it closed, and drops out past it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { loadConfig } from "../../src/config/config.ts";
import { sslOption } from "../../src/postgres/tls-connect.ts";
import { createTlsRegistry } from "../../src/tls/registry.ts";
import { sharedScope } from "../support/scope.ts";
import { waitFor } from "../support/services.ts";
import { createTestCa } from "../support/test-ca.ts";
import { startTlsPostgres, type TlsPostgres } from "../support/tls-postgres.ts";

/** A port of this file's own, clear of the other TLS tests'. */
const PORT = 57310;
const GRACE = 60_000;
const scope = sharedScope();
let pg: TlsPostgres;
let caCert: string;

beforeAll(async () => {
  const ca = createTestCa(scope.tempDir("tls-gauge-ca-"));
  caCert = ca.caCert;
  const server = ca.issue("server", { commonName: "localhost", altNames: ["127.0.0.1"], usage: "server" });
  pg = await startTlsPostgres({ port: PORT, caCert, server });
});

afterAll(async () => {
  await pg?.stop();
});

test("a host's series lasts while a connection is open and for the grace period after the last one closed", async () => {
  const tls = loadConfig({
    env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${PORT}/postgres?sslmode=verify-full&sslrootcert=${caCert}` },
  }).db.tls;
  const registry = createTlsRegistry();
  const open = () =>
    postgres({
      host: "127.0.0.1",
      port: PORT,
      user: "postgres",
      database: "postgres",
      max: 1,
      ssl: sslOption(tls, { registry }) as unknown as boolean,
    });
  const hosts = (at: number) => registry.inUse(at, GRACE).map((entry) => entry.host);
  const sql = open();
  await sql`SELECT 1`;
  expect(registry.inUse(Date.now(), GRACE)[0]?.state.serverNotAfter).toBeString();
  // Open: in use however long ago it was made.
  expect(hosts(Date.now() + 10 * GRACE)).toEqual([`127.0.0.1:${PORT}`]);
  await sql.end();
  // Closed: still in use within the grace period, gone past it.
  await waitFor("the close to count", () => hosts(Date.now() + GRACE).length === 0);
  expect(hosts(Date.now())).toEqual([`127.0.0.1:${PORT}`]);
  // Connected again: in use again.
  const again = open();
  try {
    await again`SELECT 1`;
    expect(hosts(Date.now() + 10 * GRACE)).toEqual([`127.0.0.1:${PORT}`]);
  } finally {
    await again.end();
  }
});
