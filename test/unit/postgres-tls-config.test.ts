import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/config.ts";
import { pemFiles } from "../support/pem-files.ts";

const { file } = pemFiles("rune-pgtls-");
const ca = file("ca.crt", 0o644);
const crt = file("client.crt", 0o644);
const key = file("client.key");
const openKey = file("open.key", 0o644);

const load = (env: Record<string, string>, dotenv?: string) => loadConfig({ env, dotenv });
function errorOf(env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}
const url = (query: string) => ({ DATABASE_URL: `postgres://u:pw@h/db?${query}` });

describe("PostgreSQL TLS settings as libpq reads them", () => {
  test("every sslmode; verification follows libpq: require with a root certificate checks the CA", () => {
    const verify = (query: string) => load(url(query)).db.tls;
    expect(verify("sslmode=disable")).toMatchObject({ mode: "disable", verify: "none" });
    expect(verify("sslmode=allow")).toMatchObject({ mode: "allow", verify: "none" });
    expect(verify("sslmode=prefer")).toMatchObject({ mode: "prefer", verify: "none" });
    expect(verify("sslmode=require")).toMatchObject({ mode: "require", verify: "none" });
    expect(verify(`sslmode=require&sslrootcert=${ca}`)).toMatchObject({ verify: "ca", rootCert: { path: ca } });
    expect(verify(`sslmode=verify-ca&sslrootcert=${ca}`)).toMatchObject({ verify: "ca" });
    expect(verify(`sslmode=verify-full&sslrootcert=${ca}`)).toMatchObject({ verify: "full" });
    // Without a CA file: the runtime's store (what NODE_EXTRA_CA_CERTS extends), not an error.
    expect(verify("sslmode=verify-full")).toMatchObject({ verify: "full", rootCert: null });
  });

  test("verify-ca without a CA file is refused: the system's store would accept any public certificate for any name", () => {
    // A chain check without a name check is only as narrow as the CA: with Mozilla's roots, a
    // certificate anyone can get for their own domain passes (libpq 16 refuses verify-ca with
    // sslrootcert=system for this reason, and libpq refuses verify-ca without a root file).
    expect(errorOf(url("sslmode=verify-ca"))).toContain(
      "expected sslrootcert=<the CA file> with sslmode in DATABASE_URL=verify-ca",
    );
    expect(errorOf({ PGSSLMODE: "verify-ca" })).toContain(
      "expected PGSSLROOTCERT=<the CA file> with PGSSLMODE=verify-ca",
    );
  });

  test("a CA file under prefer or allow gets a warning: anyone between can answer that the server has no TLS", () => {
    const warned = (env: Record<string, string>) => load(env).db.tls.warnings;
    expect(warned({ PGSSLROOTCERT: ca })).toEqual([
      "PGSSLROOTCERT is given, but sslmode is prefer (the default): a server, or anyone between, that answers it has no TLS is spoken to in plain text and the CA is never checked; set sslmode=verify-full (or verify-ca) to require it",
    ]);
    expect(warned(url(`sslmode=allow&sslrootcert=${ca}`))[0]).toContain(
      "sslrootcert in DATABASE_URL is given, but sslmode is allow (sslmode in DATABASE_URL)",
    );
    for (const mode of ["require", "verify-ca", "verify-full"])
      expect(warned({ PGSSLMODE: mode, PGSSLROOTCERT: ca })).toEqual([]);
    expect(warned({})).toEqual([]);
  });

  test("SCHEDULER_NOTIFY_DATABASE_URL's TLS parameters are named as its own in every message", () => {
    const notify = (query: string) => ({ SCHEDULER_NOTIFY_DATABASE_URL: `postgres://u@direct/db?${query}` });
    expect(errorOf(notify("sslrootcert=/nonexistent/ca.pem"))).toBe(
      'SCHEDULER_NOTIFY_DATABASE_URL="postgres://u@direct/db?sslrootcert=/nonexistent/ca.pem" is invalid: expected sslrootcert in SCHEDULER_NOTIFY_DATABASE_URL to name a readable file: /nonexistent/ca.pem (ENOENT)',
    );
    expect(errorOf(notify("sslmode=verify-ca"))).toContain(
      "expected sslrootcert=<the CA file> with sslmode in SCHEDULER_NOTIFY_DATABASE_URL=verify-ca",
    );
    expect(load(notify(`sslrootcert=${ca}`)).notifyDb?.tls.warnings).toEqual([
      expect.stringContaining("sslrootcert in SCHEDULER_NOTIFY_DATABASE_URL is given, but sslmode is prefer"),
    ]);
  });

  test("sslrootcert=system means verify-full and refuses a weaker mode, as libpq 16", () => {
    expect(load(url("sslrootcert=system")).db.tls).toMatchObject({ mode: "verify-full", verify: "full" });
    expect(errorOf(url("sslrootcert=system&sslmode=require"))).toContain(
      "expected sslmode=verify-full with sslrootcert in DATABASE_URL=system",
    );
  });

  test("ssl=true is refused with the libpq parameter to use instead", () => {
    expect(errorOf(url("ssl=true"))).toContain("expected sslmode=… instead of ssl=…");
  });

  test("the POSTGRES_* parts take PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, PGSSLSNI", () => {
    const tls = load({ PGSSLMODE: "verify-ca", PGSSLROOTCERT: ca, PGSSLCERT: crt, PGSSLKEY: key, PGSSLSNI: "0" }).db
      .tls;
    expect(tls).toMatchObject({
      mode: "verify-ca",
      verify: "ca",
      rootCert: { path: ca, setting: "PGSSLROOTCERT" },
      cert: { path: crt, setting: "PGSSLCERT" },
      key: { path: key, setting: "PGSSLKEY" },
      sni: false,
    });
  });

  test("./.env gives them like any other setting; the URL's query wins over the variables", () => {
    expect(load({}, `PGSSLMODE=verify-full\nPGSSLROOTCERT=${ca}\n`).db.tls).toMatchObject({ mode: "verify-full" });
    expect(load({ ...url("sslmode=require"), PGSSLMODE: "verify-full", PGSSLROOTCERT: ca }).db.tls).toMatchObject({
      mode: "require",
      modeSetting: "sslmode in DATABASE_URL",
      verify: "ca",
      rootCert: { setting: "PGSSLROOTCERT" },
    });
  });

  test("libpq's default files in ~/.postgresql are used when present", () => {
    const home = mkdtempSync(join(tmpdir(), "rune-home-"));
    try {
      mkdirSync(join(home, ".postgresql"));
      for (const name of ["root.crt", "postgresql.crt", "postgresql.key"]) {
        writeFileSync(join(home, ".postgresql", name), "x");
        chmodSync(join(home, ".postgresql", name), 0o600);
      }
      const tls = load({ HOME: home }).db.tls;
      expect(tls).toMatchObject({
        mode: "prefer",
        verify: "ca",
        rootCert: { setting: "~/.postgresql/root.crt (libpq's default)" },
        cert: { path: join(home, ".postgresql", "postgresql.crt") },
        key: { path: join(home, ".postgresql", "postgresql.key") },
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("a missing file is a configuration error naming the setting and the path", () => {
    expect(errorOf({ PGSSLROOTCERT: "/nonexistent/ca.pem" })).toBe(
      'PGSSLROOTCERT="/nonexistent/ca.pem" is invalid: expected PGSSLROOTCERT to name a readable file: /nonexistent/ca.pem (ENOENT)',
    );
    expect(errorOf(url(`sslcert=${crt}&sslkey=/nonexistent/k`))).toContain(
      "expected sslkey in DATABASE_URL to name a readable file: /nonexistent/k (ENOENT)",
    );
    expect(errorOf({ PGSSLCERT: crt })).toContain("expected a key for PGSSLCERT");
  });

  test("sslmode=disable ignores every file", () => {
    expect(load({ PGSSLMODE: "disable", PGSSLROOTCERT: "/nonexistent" }).db.tls.rootCert).toBeNull();
  });

  test("a key readable by others gets a warning; the key's password is a secret, masked in the URL", () => {
    const tls = load(url(`sslcert=${crt}&sslkey=${openKey}&sslpassword=k3y-pass`)).db.tls;
    expect(tls.warnings[0]).toContain(
      `sslkey in DATABASE_URL: the private key ${openKey} is readable by others (mode 0644)`,
    );
    expect(load(url(`sslcert=${crt}&sslkey=${key}`)).db.tls.warnings).toEqual([]);
    const config = load(url(`sslcert=${crt}&sslkey=${key}&sslpassword=k3y-pass`));
    expect(config.secrets).toContain("k3y-pass");
    expect(errorOf(url(`sslcert=${crt}&sslkey=${key}&sslpassword=k3y-pass&sslmode=nope`))).not.toContain("k3y-pass");
    expect(load({ PGSSLCERT: crt, PGSSLKEY: key, POSTGRES_SSL_PASSWORD: "k3y-pass" }).secrets).toContain("k3y-pass");
  });

  test("POSTGRES_POOLER takes none, session or transaction", () => {
    expect(load({}).db.pooler).toBe("none");
    expect(load({ POSTGRES_POOLER: "transaction" }).db.pooler).toBe("transaction");
    expect(errorOf({ POSTGRES_POOLER: "statement" })).toBe(
      'POSTGRES_POOLER="statement" is invalid: expected one of none, session, transaction',
    );
  });
});
