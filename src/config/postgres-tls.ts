/**
 * PostgreSQL TLS as libpq reads it (docs/configuration.md, "TLS"): `sslmode`, `sslrootcert`,
 * `sslcert`, `sslkey`, `sslpassword` and `sslsni` from DATABASE_URL's query, else libpq's
 * variables (PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, PGSSLSNI; POSTGRES_SSL_PASSWORD for
 * the key's password, which libpq has no variable for), else libpq's default files in
 * ~/.postgresql/ when they exist. Files are checked here, at start, so a missing one is exit 2;
 * they are read again at every connect (postgres/tls-connect.ts), so rotation needs no restart.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { SettingName } from "./settings.ts";

export const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];
/** libpq's default: TLS when the server offers it, plain text when it does not. */
export const DEFAULT_SSL_MODE: SslMode = "prefer";

/** A file the TLS connection reads, and the setting that named it (for every message about it). */
export interface TlsFile {
  readonly path: string;
  /** `sslrootcert in DATABASE_URL`, `PGSSLROOTCERT`, or `~/.postgresql/root.crt (libpq's default)`. */
  readonly setting: string;
}

export interface PostgresTlsConfig {
  readonly mode: SslMode;
  /** Where the mode came from: `sslmode in DATABASE_URL`, `PGSSLMODE` or `the default`. */
  readonly modeSetting: string;
  /** What a TLS connection checks: chain and name, chain only, or nothing (encrypted only). */
  readonly verify: "full" | "ca" | "none";
  /** The CA bundle to trust; null with `verify` ≠ none means the system's store. */
  readonly rootCert: TlsFile | null;
  readonly cert: TlsFile | null;
  readonly key: TlsFile | null;
  /** The client key's password: a secret, never shown. */
  readonly password: string | null;
  /** Send the host name in the handshake (SNI); libpq's sslsni=1, the default. */
  readonly sni: boolean;
  /** Lines for a WARNING at start (a key file readable by others). */
  readonly warnings: readonly string[];
}

type Fail = (name: SettingName, expected: string) => never;

interface Sources {
  readonly get: (name: SettingName) => string;
  readonly fail: Fail;
  /** DATABASE_URL's query, or null when the parts (POSTGRES_*) are used. */
  readonly query: URLSearchParams | null;
  /** The home directory, for libpq's default files; null: none. */
  readonly home: string | null;
  /** The URL's own name in messages: DATABASE_URL, or SCHEDULER_NOTIFY_DATABASE_URL. */
  readonly urlName?: string;
}

/** The URL's parameter, else libpq's variable; with where it came from. */
function pick(src: Sources, param: string, variable: SettingName): { value: string; setting: string } | null {
  const fromUrl = src.query?.get(param);
  if (fromUrl !== undefined && fromUrl !== null && fromUrl !== "")
    return { value: fromUrl, setting: `${param} in ${src.urlName ?? "DATABASE_URL"}` };
  const fromEnv = src.get(variable).trim();
  return fromEnv === "" ? null : { value: fromEnv, setting: variable };
}

/** A value from the URL's query (`sslmode in DATABASE_URL`), not from a variable or a file. */
const inUrl = (setting: string): boolean => / in [A-Z_]+$/.test(setting);

/**
 * The setting to name in a ConfigError for a value that came from `setting`: DATABASE_URL for the
 * URL's query (the caller's `fail` names the URL it read as DATABASE_URL).
 */
const variableOf = (setting: string, fallback: SettingName): SettingName =>
  inUrl(setting) ? "DATABASE_URL" : fallback;

function readable(src: Sources, file: TlsFile, variable: SettingName): TlsFile {
  try {
    readFileSync(file.path);
    return file;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    return src.fail(
      variableOf(file.setting, variable),
      `${file.setting} to name a readable file: ${file.path} (${reason})`,
    );
  }
}

/** libpq's default file in ~/.postgresql/ when it exists. */
function defaultFile(src: Sources, name: string): TlsFile | null {
  if (src.home === null) return null;
  const path = join(src.home, ".postgresql", name);
  try {
    statSync(path);
  } catch {
    return null;
  }
  return { path, setting: `~/.postgresql/${name} (libpq's default)` };
}

function givenFile(src: Sources, param: string, variable: SettingName, fallbackName: string | null): TlsFile | null {
  const given = pick(src, param, variable);
  if (given) return { path: given.value, setting: given.setting };
  return fallbackName === null ? null : defaultFile(src, fallbackName);
}

/** The system's CA bundle (Debian, Ubuntu, Alpine); null where there is none: the runtime's store. */
export const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
function systemStore(): TlsFile | null {
  try {
    statSync(SYSTEM_CA_BUNDLE);
    return { path: SYSTEM_CA_BUNDLE, setting: "sslrootcert=system" };
  } catch {
    return null;
  }
}

/**
 * libpq refuses a key that others can read; we warn instead, since a Kubernetes Secret is mounted
 * 0644 unless told otherwise and the key is still only as exposed as the rest of the pod's files.
 */
function keyWarning(key: TlsFile): string | null {
  try {
    const mode = statSync(key.path).mode & 0o777;
    if ((mode & 0o077) === 0 || ((mode & 0o037) === 0 && statSync(key.path).uid === 0)) return null;
    return `${key.setting}: the private key ${key.path} is readable by others (mode ${mode.toString(8).padStart(4, "0")}); libpq would refuse it: chmod 0600 it (0640 if owned by root)`;
  } catch {
    return null;
  }
}

export function postgresTlsConfig(src: Sources): PostgresTlsConfig {
  const { fail } = src;
  const q = src.query;
  if (q?.has("ssl"))
    fail("DATABASE_URL", "sslmode=… instead of ssl=… (libpq's parameter: require, verify-ca, verify-full…)");
  const modeGiven = pick(src, "sslmode", "PGSSLMODE");
  if (modeGiven && !(SSL_MODES as readonly string[]).includes(modeGiven.value)) {
    fail(variableOf(modeGiven.setting, "PGSSLMODE"), `${modeGiven.setting} to be one of ${SSL_MODES.join(", ")}`);
  }
  const rootGiven = pick(src, "sslrootcert", "PGSSLROOTCERT");
  const system = rootGiven?.value === "system";
  // libpq 16: sslrootcert=system makes verify-full the default and refuses anything weaker.
  const mode = (modeGiven?.value as SslMode | undefined) ?? (system ? "verify-full" : DEFAULT_SSL_MODE);
  if (system && mode !== "verify-full") {
    fail(
      variableOf(rootGiven!.setting, "PGSSLROOTCERT"),
      `sslmode=verify-full with ${rootGiven!.setting}=system (libpq 16 refuses a weaker mode), or a CA file`,
    );
  }
  const modeSetting = modeGiven?.setting ?? "the default";
  const sniGiven = pick(src, "sslsni", "PGSSLSNI");
  if (sniGiven && sniGiven.value !== "0" && sniGiven.value !== "1") {
    fail(variableOf(sniGiven.setting, "PGSSLSNI"), `${sniGiven.setting} to be 0 or 1`);
  }
  const off: PostgresTlsConfig = {
    mode,
    modeSetting,
    verify: "none",
    rootCert: null,
    cert: null,
    key: null,
    password: null,
    sni: true,
    warnings: [],
  };
  if (mode === "disable") return off;

  const rootCert = system
    ? systemStore()
    : (() => {
        const file = rootGiven ? { path: rootGiven.value, setting: rootGiven.setting } : defaultFile(src, "root.crt");
        return file && readable(src, file, "PGSSLROOTCERT");
      })();
  // A chain check without the name check is only as narrow as the CA it trusts: against the
  // system's store, a certificate anyone can get for a domain of their own passes. libpq refuses
  // verify-ca without a root file too (and verify-ca with sslrootcert=system, for this reason).
  if (mode === "verify-ca" && !rootCert) {
    const rootParam = inUrl(modeSetting) ? "sslrootcert" : "PGSSLROOTCERT";
    fail(
      variableOf(modeSetting, "PGSSLMODE"),
      `${rootParam}=<the CA file> with ${modeSetting}=verify-ca (it checks the CA only; against the system's store any public certificate would pass), or verify-full`,
    );
  }
  const certFile = givenFile(src, "sslcert", "PGSSLCERT", "postgresql.crt");
  const keyFile = givenFile(src, "sslkey", "PGSSLKEY", certFile ? "postgresql.key" : null);
  if (certFile && !keyFile) {
    fail(
      variableOf(certFile.setting, "PGSSLKEY"),
      `a key for ${certFile.setting} (sslkey or PGSSLKEY, or ~/.postgresql/postgresql.key)`,
    );
  }
  if (keyFile && !certFile)
    fail(variableOf(keyFile.setting, "PGSSLCERT"), `a certificate for ${keyFile.setting} (sslcert or PGSSLCERT)`);
  const cert = certFile && readable(src, certFile, "PGSSLCERT");
  const key = keyFile && readable(src, keyFile, "PGSSLKEY");
  const warning = key ? keyWarning(key) : null;
  // libpq's prefer and allow take a server's "no TLS" at its word, so whoever sits between can
  // say it and be spoken to in plain text: a CA given under them is checked only when it is
  // least needed. Said at start, since the operator who gave one expects it to be required.
  const downgrade =
    rootCert && (mode === "prefer" || mode === "allow")
      ? `${rootCert.setting} is given, but sslmode is ${mode} (${modeSetting}): a server, or anyone between, that answers it has no TLS is spoken to in plain text and the CA is never checked; set sslmode=verify-full (or verify-ca) to require it`
      : null;
  const password = q?.get("sslpassword") || src.get("POSTGRES_SSL_PASSWORD") || null;
  // libpq: require (and prefer, allow) with a root certificate present verify the chain.
  const verify = mode === "verify-full" ? "full" : mode === "verify-ca" || rootCert ? "ca" : "none";
  return {
    ...off,
    verify,
    rootCert,
    cert,
    key,
    password,
    sni: sniGiven?.value !== "0",
    warnings: [warning, downgrade].filter((line): line is string => line !== null),
  };
}
