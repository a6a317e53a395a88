/** PostgreSQL TLS and pooler failures → the line that says what to do, on plain error objects. */
import { describe, expect, test } from "bun:test";
import { explainBrokerError, explainDatabaseError } from "../../src/observe/diagnose.ts";

const tls = {
  mode: "verify-full",
  modeSetting: "PGSSLMODE",
  rootCert: { path: "/etc/rune/ca.pem", setting: "PGSSLROOTCERT" },
  cert: null,
  key: null,
};
const place = { host: "db", port: 5432, user: "rune", database: "rune", tls };
const explain = (error: object) => explainDatabaseError(error, place, 10_000);

describe("TLS and pooler failures", () => {
  test("each names the host and what to set", () => {
    expect(
      explain({
        code: "SELF_SIGNED_CERT_IN_CHAIN",
        message: "self signed certificate in certificate chain",
        address: "db",
        port: 5432,
      }),
    ).toBe(
      "PostgreSQL at db:5432: the server's certificate is not signed by a CA we trust (self signed certificate in certificate chain; trusted now: PGSSLROOTCERT (/etc/rune/ca.pem)); give the server's CA with sslrootcert=<file> in DATABASE_URL or PGSSLROOTCERT",
    );
    expect(
      explain({
        code: "ERR_TLS_CERT_ALTNAME_INVALID",
        message:
          "Hostname/IP does not match certificate's altnames: Host: db. is not in the cert's altnames: DNS:db.internal",
        cert: { subjectaltname: "DNS:db.internal, DNS:db2.internal" },
        address: "db",
        port: 5432,
      }),
    ).toContain('the server\'s certificate is not for "db": it names DNS:db.internal, DNS:db2.internal');
    expect(explain({ code: "SSL_NOT_SUPPORTED", message: "x", address: "db", port: 5432 })).toBe(
      "PostgreSQL at db:5432 does not offer TLS, but sslmode=verify-full from PGSSLMODE requires it; turn ssl on at the server, or set sslmode=prefer to allow plain text",
    );
    expect(
      explain({
        code: "28000",
        message: 'pg_hba.conf rejects connection for host "10.0.0.1", user "rune", database "rune", no encryption',
      }),
    ).toContain('PostgreSQL at db:5432 accepts only TLS connections for user "rune"');
    expect(explain({ code: "28000", message: "connection requires a valid client certificate" })).toContain(
      'requires a client certificate for user "rune" that it trusts, and none was given',
    );
    expect(explain({ code: "08P01", message: "unsupported startup parameter: lock_timeout" })).toBe(
      "PostgreSQL at db:5432 is a connection pooler that refuses the start-up parameter lock_timeout; set POSTGRES_POOLER=transaction (or session, PgBouncer's pool_mode), which sends the session limits per transaction instead",
    );
  });

  test("a plain 28000 stays the pg_hba line it was", () => {
    expect(explain({ code: "28000", message: 'role "x" does not exist' })).toContain('PostgreSQL refused user "rune"');
  });
});

describe("LISTEN's own address (SCHEDULER_NOTIFY_DATABASE_URL): its hints name it, not DATABASE_URL or POSTGRES_*", () => {
  const notify = {
    ...place,
    host: "direct",
    urlName: "SCHEDULER_NOTIFY_DATABASE_URL",
    tls: { ...tls, modeSetting: "sslmode in SCHEDULER_NOTIFY_DATABASE_URL", rootCert: null },
  };
  const lines = [
    { code: "SELF_SIGNED_CERT_IN_CHAIN", message: "self signed certificate in certificate chain" },
    { code: "28000", message: "pg_hba.conf rejects connection for host x, no encryption" },
    { code: "28000", message: "connection requires a valid client certificate" },
    { code: "ERR_OSSL_BAD_DECRYPT", message: "bad decrypt" },
    { code: "ECONNRESET", message: "Client network socket disconnected before secure TLS connection" },
    { code: "ENOTFOUND", message: "getaddrinfo ENOTFOUND direct" },
    { code: "ECONNREFUSED", message: "connect ECONNREFUSED" },
    { code: "CONNECTION_CLOSED", message: "closed" },
    { code: "28P01", message: "password authentication failed" },
    { code: "28000", message: 'role "x" does not exist' },
    { code: "3D000", message: 'database "x" does not exist' },
    { code: "25006", message: "read-only" },
  ].map((error) => explainDatabaseError(error, notify, 10_000));

  test("every line names SCHEDULER_NOTIFY_DATABASE_URL and no setting this connection does not read", () => {
    for (const line of lines) {
      expect(line).toContain("SCHEDULER_NOTIFY_DATABASE_URL");
      expect(line).not.toMatch(/(?<!NOTIFY_)DATABASE_URL|POSTGRES_(HOST|PORT|PASSWORD|USER|DB)\b/);
    }
    expect(lines[0]).toEndWith(
      "give the server's CA with sslrootcert=<file> in SCHEDULER_NOTIFY_DATABASE_URL or PGSSLROOTCERT",
    );
    expect(lines[6]).toBe(
      "PostgreSQL refused the connection at direct:5432; is it running and listening there? check the host and port in SCHEDULER_NOTIFY_DATABASE_URL",
    );
  });

  test("the main connection keeps naming both the parts and DATABASE_URL when the parts are in use", () => {
    expect(explainDatabaseError({ code: "ECONNREFUSED", message: "x" }, place, 10_000)).toContain(
      "check POSTGRES_HOST/POSTGRES_PORT",
    );
    expect(
      explainDatabaseError({ code: "ECONNREFUSED", message: "x" }, { ...place, urlName: "DATABASE_URL" }, 10_000),
    ).toContain("check the host and port in DATABASE_URL");
  });
});

describe("RabbitMQ: the hints name the setting in use", () => {
  const base = { where: "amqp://rune:***@mq:5672", vhost: "/" };
  const refused = { code: "ECONNREFUSED", message: "connect ECONNREFUSED" };
  const denied = { message: "Handshake terminated by server: 403 (ACCESS-REFUSED)" };
  test("RABBITMQ_URL when the nodes came from it", () => {
    const place = { ...base, urlName: "RABBITMQ_URL" };
    expect(explainBrokerError(refused, place, 10_000)).toContain("check the host and port in RABBITMQ_URL");
    expect(explainBrokerError(denied, place, 10_000)).toContain("check the user and password in RABBITMQ_URL");
    for (const error of [refused, denied])
      expect(explainBrokerError(error, place, 10_000)).not.toContain("RABBITMQ_HOST");
  });
  test("the parts otherwise", () => {
    expect(explainBrokerError(refused, base, 10_000)).toContain("check RABBITMQ_HOST/RABBITMQ_PORT");
    expect(explainBrokerError(denied, base, 10_000)).toContain("check RABBITMQ_USER and RABBITMQ_PASSWORD");
  });
});
