/**
 * PostgreSQL over TLS as operators configure it, against a PostgreSQL 15 of the test's own with
 * ssl=on (test/support/tls-postgres.ts): `hostssl … cert` for certuser, `hostnossl … reject`.
 * Every way of giving the settings fires a schedule through it; every failure ends in its line.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { createDatabase } from "../../src/postgres/client.ts";
import { tlsRegistry } from "../../src/tls/registry.ts";
import { runBinary, startBinary } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, PG, type TestQueue, waitFor } from "../support/services.ts";
import { createTestCa, type Issued, type TestCa } from "../support/test-ca.ts";
import { startTlsPostgres, type TlsPostgres } from "../support/tls-postgres.ts";

const PORT = 56000;
const scope = sharedScope();
let ca: TestCa;
let other: TestCa;
let server: Issued;
let client: Issued;
let locked: Issued;
let pg: TlsPostgres;
let queue: TestQueue;
let dir: string;

beforeAll(async () => {
  dir = scope.tempDir("conn-pg-tls-ca-");
  ca = createTestCa(dir);
  mkdirSync(join(dir, "other"));
  other = createTestCa(join(dir, "other"), "another CA");
  server = ca.issue("server", { commonName: "localhost", altNames: ["localhost", "127.0.0.1"], usage: "server" });
  client = ca.issue("client", { commonName: "certuser", usage: "client" });
  locked = ca.issue("locked", { commonName: "certuser", usage: "client", keyPassword: "s3cret-key-pw" });
  pg = await startTlsPostgres({ port: PORT, caCert: ca.caCert, server });
  scope.defer(() => pg.stop());
  await pg.admin`CREATE DATABASE rune`;
  const schema = readFileSync(new URL("../../scripts/schema.sql", import.meta.url), "utf8");
  const rune = pg.database("rune");
  await rune.unsafe(schema);
  await rune.end();
  queue = await scope.queue();
  await queue.consume();
}, 120_000);

const base = (user = "postgres") => `postgres://${user}@localhost:${PORT}/rune`;

/** Runs the scheduler with `env` until it fires a schedule due now; returns its output. */
async function fires(env: Record<string, string>, cwd?: string): Promise<string> {
  const sql = pg.database("rune");
  try {
    const [id] = await insertSchedules(sql, [{ dueInMs: 0, intervalSeconds: 3600 }]);
    const scheduler = startBinary(["run"], { ...queue.env, SCHEDULER_POLL_INTERVAL: "1", ...env }, { cwd });
    scope.defer(() => scheduler.stop("SIGKILL"));
    try {
      await waitFor("the fire", () => queue.messages.find((m) => m.body.schedule_id === id), 20_000);
      return scheduler.output();
    } catch (error) {
      throw new Error(`${error}\n${scheduler.output()}`);
    } finally {
      await scheduler.stop();
    }
  } finally {
    await sql.end();
  }
}

/** check-db's exit code and its lines (a FAILED line goes to stderr, ok lines to stdout). */
async function checkDb(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const done = await runBinary(["check-db"], { SCHEDULER_CONNECT_TIMEOUT: "5", ...env });
  return { code: done.code, stdout: done.stdout + done.stderr, stderr: done.stderr };
}

describe("fires through TLS", () => {
  test("sslmode=verify-full with sslrootcert in DATABASE_URL (what AWS documents)", async () => {
    const out = await fires({ DATABASE_URL: `${base()}?sslmode=verify-full&sslrootcert=${ca.caCert}` });
    expect(out).toMatch(/tls="localhost:56000: TLSv1\.[23], verified \(full\), server CN=localhost expires \d{4}-/);
  });

  test("sslmode=verify-ca by address (Cloud SQL: no host name in the certificate)", async () => {
    const out = await fires({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${PORT}/rune?sslmode=verify-ca&sslrootcert=${ca.caCert}`,
    });
    expect(out).toContain("verified (CA only)");
  });

  test("sslmode=require with a root certificate verifies the CA, as libpq does", async () => {
    const out = await fires({ DATABASE_URL: `${base()}?sslmode=require&sslrootcert=${ca.caCert}` });
    expect(out).toContain("verified (CA only)");
  });

  test("sslmode=require alone encrypts without verifying, and says so", async () => {
    expect(await fires({ DATABASE_URL: `${base()}?sslmode=require` })).toContain("not verified");
  });

  test("the default (prefer) encrypts when the server offers TLS", async () => {
    expect(await fires({ DATABASE_URL: base() })).toContain("TLSv1");
  });

  test("sslmode=allow tries plain text, is refused by hostnossl reject, and goes on with TLS", async () => {
    expect(await fires({ DATABASE_URL: `${base()}?sslmode=allow` })).toContain("not verified");
  });

  test("POSTGRES_* parts with PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY: a client certificate user", async () => {
    const out = await fires({
      POSTGRES_HOST: "localhost",
      POSTGRES_PORT: String(PORT),
      POSTGRES_DB: "rune",
      POSTGRES_USER: "certuser",
      PGSSLMODE: "verify-full",
      PGSSLROOTCERT: ca.caCert,
      PGSSLCERT: client.cert,
      PGSSLKEY: client.key,
    });
    expect(out).toMatch(/client certificate expires \d{4}-/);
  });

  test("an encrypted key with sslpassword; the password never appears", async () => {
    const out = await fires({
      DATABASE_URL: `${base("certuser")}?sslmode=verify-full&sslrootcert=${ca.caCert}&sslcert=${locked.cert}&sslkey=${locked.key}&sslpassword=s3cret-key-pw`,
    });
    expect(out).not.toContain("s3cret-key-pw");
  });

  test("./.env gives the settings, POSTGRES_SSL_PASSWORD the key's password", async () => {
    const cwd = scope.tempDir("conn-pg-dotenv-");
    writeFileSync(
      join(cwd, ".env"),
      [
        `DATABASE_URL=${base("certuser")}`,
        "PGSSLMODE=verify-full",
        `PGSSLROOTCERT=${ca.caCert}`,
        `PGSSLCERT=${locked.cert}`,
        `PGSSLKEY=${locked.key}`,
        "POSTGRES_SSL_PASSWORD=s3cret-key-pw",
        "",
      ].join("\n"),
    );
    expect(await fires({}, cwd)).not.toContain("s3cret-key-pw");
  });

  test("sslsni=0: no host name in the handshake, the name still verified", async () => {
    expect(await fires({ DATABASE_URL: `${base()}?sslmode=verify-full&sslrootcert=${ca.caCert}&sslsni=0` })).toContain(
      "verified (full)",
    );
  });

  test("libpq's default files in ~/.postgresql", async () => {
    const home = scope.tempDir("conn-pg-home-");
    mkdirSync(join(home, ".postgresql"));
    copyFileSync(ca.caCert, join(home, ".postgresql", "root.crt"));
    copyFileSync(client.cert, join(home, ".postgresql", "postgresql.crt"));
    copyFileSync(client.key, join(home, ".postgresql", "postgresql.key"));
    const out = await fires({ HOME: home, DATABASE_URL: `${base("certuser")}?sslmode=verify-full` });
    expect(out).toContain("verified (full)");
    expect(out).toContain("client certificate expires");
  });
});

describe("check-db shows the TLS in effect", () => {
  test("a tls line per host, and tls in --json", async () => {
    const env = {
      DATABASE_URL: `${base("certuser")}?sslmode=verify-full&sslrootcert=${ca.caCert}&sslcert=${client.cert}&sslkey=${client.key}`,
    };
    const text = await checkDb(env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^ok PostgreSQL 15\.\d+.* at certuser@localhost:56000\/rune\n {2}tls localhost:56000: TLSv1\.[23], verified \(full\), server CN=localhost expires \d{4}-\d\d-\d\d, client certificate expires \d{4}-\d\d-\d\d\n/,
    );
    const json = await runBinary(["check-db", "--json"], env);
    expect(JSON.parse(json.stdout).tls).toEqual([
      expect.objectContaining({
        host: "localhost:56000",
        encrypted: true,
        verified: "full",
        serverSubject: "CN=localhost",
      }),
    ]);
    const plain = await checkDb({ DATABASE_URL: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=prefer" });
    expect(plain.stdout).toContain("  tls 127.0.0.1:5432: not encrypted\n");
  });
});

describe("each failure ends in its line", () => {
  test("an untrusted CA names the settings that give one", async () => {
    const { code, stdout } = await checkDb({ DATABASE_URL: `${base()}?sslmode=verify-full` });
    expect(code).toBe(1);
    expect(stdout).toContain(
      "FAILED PostgreSQL at localhost:56000: the server's certificate is not signed by a CA we trust (",
    );
    expect(stdout).toContain("give the server's CA with sslrootcert=<file> in DATABASE_URL or PGSSLROOTCERT");
  });

  test("sslrootcert=system trusts the system's store only, and says so", async () => {
    const { code, stdout } = await checkDb({ DATABASE_URL: `${base()}?sslrootcert=system` });
    expect(code).toBe(1);
    expect(stdout).toContain("trusted now: sslrootcert=system (/etc/ssl/certs/ca-certificates.crt)");
  });

  test("a CA that did not sign the server's certificate", async () => {
    const { stdout } = await checkDb({ PGSSLROOTCERT: other.caCert, PGSSLMODE: "verify-ca", DATABASE_URL: base() });
    expect(stdout).toContain(`trusted now: PGSSLROOTCERT (${other.caCert})`);
    // require (and the default, prefer) with a root certificate check the chain as verify-ca does:
    // the label "verified (CA only)" alone would not show that the check is made.
    for (const mode of ["require", "prefer"]) {
      const refused = await checkDb({ PGSSLROOTCERT: other.caCert, PGSSLMODE: mode, DATABASE_URL: base() });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain(`trusted now: PGSSLROOTCERT (${other.caCert})`);
    }
  });

  test("a name mismatch gives the names the certificate holds; an expired certificate says so", async () => {
    const wrongName = ca.issue("wrong", {
      commonName: "db.other.example",
      altNames: ["db.other.example"],
      usage: "server",
    });
    const expired = ca.issue("expired", {
      commonName: "localhost",
      altNames: ["localhost", "127.0.0.1"],
      usage: "server",
      days: -1,
    });
    const localhostOnly = ca.issue("localhost-only", {
      commonName: "localhost",
      altNames: ["localhost"],
      usage: "server",
    });
    const env = { DATABASE_URL: `${base()}?sslmode=verify-full&sslrootcert=${ca.caCert}` };
    try {
      await pg.useServerCert(wrongName);
      const mismatch = await checkDb(env);
      expect(mismatch.code).toBe(1);
      expect(mismatch.stdout).toContain(
        'FAILED PostgreSQL at localhost:56000: the server\'s certificate is not for "localhost": it names DNS:db.other.example; connect by one of those names, or use sslmode=verify-ca to check the CA only',
      );
      // The name is checked without SNI too.
      const noSni = await checkDb({ DATABASE_URL: `${base()}?sslmode=verify-full&sslrootcert=${ca.caCert}&sslsni=0` });
      expect(noSni.code).toBe(1);
      expect(noSni.stdout).toContain("the server's certificate is not for");
      // verify-ca accepts it: the chain is ours.
      expect((await checkDb({ DATABASE_URL: `${base()}?sslmode=verify-ca&sslrootcert=${ca.caCert}` })).code).toBe(0);
      // By address, the address is what is checked (no SNI is sent for one): a certificate for
      // "localhost" alone does not do for 127.0.0.1.
      await pg.useServerCert(localhostOnly);
      const byAddress = await checkDb({
        DATABASE_URL: `postgres://postgres@127.0.0.1:${PORT}/rune?sslmode=verify-full&sslrootcert=${ca.caCert}`,
      });
      expect(byAddress.code).toBe(1);
      expect(byAddress.stdout).toContain(`the server's certificate is not for "127.0.0.1"`);
      await pg.useServerCert(expired);
      const old = await checkDb(env);
      expect(old.stdout).toContain("FAILED PostgreSQL at localhost:56000: the server's certificate has expired (");
    } finally {
      await pg.useServerCert(server);
    }
  });

  test("no client certificate where pg_hba.conf requires one", async () => {
    const { code, stdout } = await checkDb({
      DATABASE_URL: `${base("certuser")}?sslmode=verify-full&sslrootcert=${ca.caCert}`,
    });
    expect(code).toBe(1);
    expect(stdout).toContain(
      'FAILED PostgreSQL at localhost:56000 requires a client certificate for user "certuser" that it trusts, and none was given',
    );
  });

  test("a client certificate of another CA is refused", async () => {
    const stranger = other.issue("stranger", { commonName: "certuser", usage: "client" });
    const { stdout } = await checkDb({
      DATABASE_URL: `${base("certuser")}?sslmode=verify-full&sslrootcert=${ca.caCert}&sslcert=${stranger.cert}&sslkey=${stranger.key}`,
    });
    expect(stdout).toContain('requires a client certificate for user "certuser" that it trusts, and the one given');
  });

  test("a wrong key password names the key's setting, never the password", async () => {
    const { stdout } = await checkDb({
      DATABASE_URL: `${base("certuser")}?sslmode=verify-full&sslrootcert=${ca.caCert}&sslcert=${locked.cert}&sslkey=${locked.key}&sslpassword=wrong-pw-123`,
    });
    expect(stdout).toContain(`sslkey in DATABASE_URL (${locked.key}) could not be used`);
    expect(stdout).not.toContain("wrong-pw-123");
  });

  test("sslmode=disable against hostnossl reject says to set sslmode", async () => {
    const { code, stdout } = await checkDb({ DATABASE_URL: `${base()}?sslmode=disable` });
    expect(code).toBe(1);
    expect(stdout).toContain('FAILED PostgreSQL at localhost:56000 accepts only TLS connections for user "postgres"');
    expect(stdout).toContain(
      "set sslmode=require or stronger in DATABASE_URL or PGSSLMODE (in effect: sslmode=disable from sslmode in DATABASE_URL)",
    );
  });

  test("a missing file is exit 2 at start, naming the setting and the path", async () => {
    const { code, stderr } = await checkDb({ DATABASE_URL: base(), PGSSLROOTCERT: "/nonexistent/ca.pem" });
    expect(code).toBe(2);
    expect(stderr).toContain(
      'PGSSLROOTCERT="/nonexistent/ca.pem" is invalid: expected PGSSLROOTCERT to name a readable file: /nonexistent/ca.pem (ENOENT)',
    );
  });
});

describe("files are read at every connect", () => {
  /** The gauge's samples for PostgreSQL, by certificate, in days (rounded). */
  async function expiryDays(port: number): Promise<Record<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const days: Record<string, number> = {};
    for (const match of text.matchAll(
      /^rune_scheduler_tls_certificate_expiry_seconds\{engine="postgresql",host="localhost:56000",certificate="(\w+)"\} (-?\d+)$/gm,
    )) {
      days[match[1]!] = Math.round(Number(match[2]) / 86_400);
    }
    return days;
  }
  const terminate = () =>
    pg.admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rune-scheduler'`;

  test("a rotated certificate, key and server certificate are used after a reconnect; a vanished file is a named ERROR, then retried", async () => {
    const files = scope.tempDir("conn-pg-rotate-");
    const [rootCert, cert, key] = ["ca.pem", "client.crt", "client.key"].map((name) => join(files, name)) as [
      string,
      string,
      string,
    ];
    copyFileSync(ca.caCert, rootCert);
    copyFileSync(client.cert, cert);
    copyFileSync(client.key, key);
    const port = await freePort();
    const scheduler = startBinary(["run"], {
      ...queue.env,
      SCHEDULER_POLL_INTERVAL: "0.5",
      SCHEDULER_HTTP_PORT: String(port),
      SCHEDULER_MAX_RETRIES: "0",
      SCHEDULER_CONSOLE: "read-only",
      // postgres.js retries a failed connect within this before the statement fails and is logged.
      SCHEDULER_CONNECT_TIMEOUT: "2",
      DATABASE_URL: `${base("certuser")}?sslmode=verify-full&sslrootcert=${rootCert}&sslcert=${cert}&sslkey=${key}`,
    });
    scope.defer(() => scheduler.stop("SIGKILL"));
    await scheduler.waitForLine(/Database connection pool established/);
    expect(await waitFor("the gauge", async () => ((await expiryDays(port)).server ? expiryDays(port) : null))).toEqual(
      {
        server: 30,
        client: 30,
      },
    );

    const stats = await (await fetch(`http://127.0.0.1:${port}/stats`)).json();
    expect(stats.tls).toContainEqual(
      expect.objectContaining({ engine: "postgresql", host: "localhost:56000", encrypted: true, verified: "full" }),
    );
    const overview = await (await fetch(`http://127.0.0.1:${port}/console/api/overview`)).json();
    expect(overview.instance.tls).toContainEqual({
      engine: "postgresql",
      host: "localhost:56000",
      summary: expect.stringMatching(
        /^TLSv1\.[23], verified \(full\), server CN=localhost expires .*, client certificate expires /,
      ),
    });
    const client2 = ca.issue("client2", { commonName: "certuser", usage: "client", days: 10 });
    const server2 = ca.issue("server2", { commonName: "localhost", altNames: ["localhost"], usage: "server", days: 5 });
    copyFileSync(client2.cert, cert);
    copyFileSync(client2.key, key);
    await pg.useServerCert(server2);
    try {
      // Terminated until a reconnect shows the new files (one terminate can miss a connection in
      // its start-up, see below).
      await waitFor(
        "the new certificates",
        async () => {
          await terminate();
          const days = await expiryDays(port);
          return days.server === 5 && days.client === 10;
        },
        15_000,
        500,
      );

      rmSync(rootCert);
      // A connection still in its start-up (the gauge above reads the certificate at the handshake,
      // before authentication ends) is not yet in pg_stat_activity under our application_name, so
      // one terminate can miss it and it lives on without reading the files again: terminate until
      // a reconnect has had to read them.
      const vanished = new RegExp(
        `ERROR .*sslrootcert in DATABASE_URL names ${rootCert}, which cannot be read now \\(ENOENT\\)`,
      );
      await waitFor(
        "the named ERROR for the vanished file",
        async () => {
          await terminate();
          return vanished.test(scheduler.output());
        },
        20_000,
        500,
      ).catch((error) => {
        throw new Error(`${error}\n${scheduler.output()}`);
      });
      copyFileSync(ca.caCert, rootCert);
      const sql = pg.database("rune");
      try {
        const [id] = await insertSchedules(sql, [{ dueInMs: 0, intervalSeconds: 3600 }]);
        await waitFor(
          "a fire once the file is back",
          () => queue.messages.find((m) => m.body.schedule_id === id),
          30_000,
        ).catch((error) => {
          throw new Error(`${error}\n${scheduler.output()}`);
        });
      } finally {
        await sql.end();
      }
    } finally {
      await pg.useServerCert(server);
    }
  });
});

describe("what is shown follows the connection", () => {
  test("prefer: a host spoken to over TLS, then in plain text (told it has no TLS), is shown not encrypted", async () => {
    // A proxy whose target is read at each connection: this test's ssl=on server first, then the
    // shared server, which has ssl=off and answers the SSLRequest with N, as anyone between could.
    const target = { host: "127.0.0.1", port: PORT };
    const proxy = await scope.proxy(target);
    const host = `127.0.0.1:${proxy.port}`;
    const { db } = loadConfig({
      env: { DATABASE_URL: `postgres://postgres@${host}/postgres?sslmode=prefer` },
    });
    const connectOnce = async () => {
      const sql = createDatabase(db, { connectTimeoutMs: 5_000, max: 1 });
      try {
        await sql`SELECT 1`;
      } finally {
        await sql.end({ timeout: 1 });
      }
    };
    await connectOnce();
    expect(tlsRegistry.get("postgresql", host)).toMatchObject({ encrypted: true, verified: "none" });
    target.port = PG.port;
    await connectOnce();
    // /stats, the log lines and the expiry gauge read this: a stale TLS entry claimed encryption.
    expect(tlsRegistry.get("postgresql", host)).toEqual({ encrypted: false });
  });
});
