/**
 * RabbitMQ TLS and authentication as RabbitMQ's URI specification reads them: the query
 * parameters of an `amqps://` URL (`cacertfile`, `certfile`, `keyfile`, `password`, `verify`,
 * `server_name_indication`, `auth_mechanism`), and the RABBITMQ_TLS_* settings that give the
 * same to the RABBITMQ_* parts (and fill in what a URL's query leaves out). Pure but for the
 * readability check of the files, which config.ts runs at start.
 */
import { statSync } from "node:fs";
import { unreadable } from "./readable.ts";
import type { SettingName } from "./settings.ts";

/** A file named by a setting: the path, and how to name that setting in a message. */
export interface TlsFile {
  readonly path: string;
  /** `RABBITMQ_TLS_CA`, or `cacertfile in RABBITMQ_URL`. */
  readonly setting: string;
}

export type AuthMechanism = "plain" | "amqplain" | "external";
const AUTH_MECHANISMS: readonly AuthMechanism[] = ["plain", "amqplain", "external"];

export interface BrokerTlsConfig {
  readonly ca: TlsFile | null;
  readonly cert: TlsFile | null;
  readonly key: TlsFile | null;
  /** The key file's password. A secret: never shown. */
  readonly keyPassword: string | null;
  /** verify_peer (the default) checks the chain and the name; verify_none checks nothing. */
  readonly verify: "verify_peer" | "verify_none";
  /** server_name_indication: the name sent and checked instead of the URL's host; "disable": the chain only. */
  readonly serverName: string | null;
  /** How each setting is named, for error lines that tell what to set. */
  readonly names: { readonly ca: string; readonly cert: string; readonly key: string; readonly serverName: string };
}

/** RabbitMQ's URI query parameters → the setting that gives the same to the RABBITMQ_* parts. */
export const TLS_QUERY = {
  cacertfile: "RABBITMQ_TLS_CA",
  certfile: "RABBITMQ_TLS_CERT",
  keyfile: "RABBITMQ_TLS_KEY",
  password: "RABBITMQ_TLS_KEY_PASSWORD",
  verify: "RABBITMQ_TLS_VERIFY",
  server_name_indication: "RABBITMQ_TLS_SERVER_NAME",
  auth_mechanism: "RABBITMQ_AUTH_MECHANISM",
} as const satisfies Record<string, SettingName>;
type QueryName = keyof typeof TLS_QUERY;

/** A URL without the parameters above: what amqplib and every message see. */
export function withoutTlsQuery(url: string): string {
  const parsed = new URL(url);
  for (const name of Object.keys(TLS_QUERY)) parsed.searchParams.delete(name);
  return parsed.toString();
}

type Get = (name: SettingName) => string;
type Problem = (variable: SettingName, expected: string) => never;

/**
 * One value for each parameter: the URLs' query (every URL that gives it must give the same, so
 * one set of files serves a whole cluster), else the setting.
 */
function pick(
  urls: readonly URL[],
  query: QueryName,
  get: Get,
  fail: Problem,
): { value: string; setting: string } | null {
  const given = urls.map((url) => url.searchParams.get(query)).filter((value): value is string => value !== null);
  if (given.length > 0) {
    const other = given.find((value) => value !== given[0]);
    if (other !== undefined) {
      fail("RABBITMQ_URL", `the same ${query} in every URL that gives it (one set of TLS settings serves every node)`);
    }
    return { value: given[0]!, setting: `${query} in RABBITMQ_URL` };
  }
  const value = get(TLS_QUERY[query]);
  return value === "" ? null : { value, setting: TLS_QUERY[query] };
}

export interface BrokerSecurity {
  readonly tls: BrokerTlsConfig;
  readonly auth: AuthMechanism;
  /** Things an operator should know at start (verification off or without the name, a key others can read). */
  readonly warnings: readonly string[];
}

/**
 * The TLS and SASL settings for every node. `urls` are the node URLs as given (null for the
 * RABBITMQ_* parts); `anyTls` says whether any node is `amqps://`.
 */
export function brokerSecurity(urls: readonly URL[], anyTls: boolean, get: Get, fail: Problem): BrokerSecurity {
  const file = (query: "cacertfile" | "certfile" | "keyfile"): TlsFile | null => {
    const picked = pick(urls, query, get, fail);
    return picked === null ? null : { path: picked.value, setting: picked.setting };
  };
  const ca = file("cacertfile");
  const cert = file("certfile");
  const key = file("keyfile");
  const password = pick(urls, "password", get, fail);
  const verifyPicked = pick(urls, "verify", get, fail);
  const verify = (verifyPicked?.value ?? "verify_peer").trim().toLowerCase();
  if (verify !== "verify_peer" && verify !== "verify_none") {
    fail(
      verifyPicked!.setting.endsWith("RABBITMQ_URL") ? "RABBITMQ_URL" : "RABBITMQ_TLS_VERIFY",
      "verify_peer or verify_none",
    );
  }
  const sni = pick(urls, "server_name_indication", get, fail);
  const authPicked = pick(urls, "auth_mechanism", get, fail);
  const auth = (authPicked?.value ?? "plain").trim().toLowerCase() as AuthMechanism;
  const authVariable: SettingName = authPicked?.setting.endsWith("RABBITMQ_URL")
    ? "RABBITMQ_URL"
    : "RABBITMQ_AUTH_MECHANISM";
  if (!AUTH_MECHANISMS.includes(auth)) fail(authVariable, `auth_mechanism to be one of ${AUTH_MECHANISMS.join(", ")}`);

  const variableOf = (setting: string): SettingName =>
    setting.endsWith("RABBITMQ_URL") ? "RABBITMQ_URL" : (setting as SettingName);
  if ((cert === null) !== (key === null)) {
    const given = (cert ?? key)!;
    fail(
      variableOf(given.setting),
      "a client certificate and its key together (certfile and keyfile, or RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY)",
    );
  }
  // verify alone is no request for TLS: its default is what every amqps:// node gets anyway.
  const tlsAsked = [ca, cert, password, sni].find((x) => x !== null);
  if (!anyTls && tlsAsked) {
    fail(
      variableOf(tlsAsked.setting),
      "amqps:// (or RABBITMQ_TLS=on): TLS settings are given but every node is plain AMQP",
    );
  }
  if (auth === "external" && (!anyTls || cert === null)) {
    fail(
      authVariable,
      "auth_mechanism=external only over TLS with a client certificate (amqps:// with certfile and keyfile, or RABBITMQ_TLS=on with RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY)",
    );
  }
  const warnings: string[] = [];
  for (const tlsFile of [ca, cert, key]) {
    if (tlsFile === null) continue;
    const problem = unreadable(tlsFile.path);
    if (problem === null) continue;
    if (variableOf(tlsFile.setting) === "RABBITMQ_URL") {
      const query = tlsFile.setting.split(" ")[0];
      fail("RABBITMQ_URL", `${query} to name a readable file (${JSON.stringify(tlsFile.path)}: ${problem})`);
    }
    fail(variableOf(tlsFile.setting), `a readable file (${problem})`);
  }
  if (key !== null && othersMayRead(key.path)) {
    warnings.push(
      `the RabbitMQ client key ${key.path} (${key.setting}) can be read by other users of this machine; chmod 600 it`,
    );
  }
  if (anyTls && verify === "verify_none") {
    warnings.push(
      "RabbitMQ TLS verification is off (verify=verify_none): the connection is encrypted but the server is not authenticated, so anyone on the path can pose as it; give the CA with cacertfile or RABBITMQ_TLS_CA instead",
    );
  }
  // As RabbitMQ's Erlang client reads it, "disable" turns the name check off: only the chain is checked.
  if (anyTls && verify === "verify_peer" && sni?.value.trim().toLowerCase() === "disable") {
    warnings.push(
      "RabbitMQ TLS does not check the server's name (server_name_indication=disable): any certificate signed by a trusted CA is accepted, so a server holding one made for another name can pose as the broker; set it to the name the broker's certificate holds instead",
    );
  }
  const names = {
    ca: urls.length > 0 ? "cacertfile= in RABBITMQ_URL or RABBITMQ_TLS_CA" : "RABBITMQ_TLS_CA",
    cert:
      urls.length > 0
        ? "certfile= and keyfile= in RABBITMQ_URL (or RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY)"
        : "RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY",
    key: key?.setting ?? "RABBITMQ_TLS_KEY",
    serverName:
      urls.length > 0
        ? "server_name_indication= in RABBITMQ_URL or RABBITMQ_TLS_SERVER_NAME"
        : "RABBITMQ_TLS_SERVER_NAME",
  };
  return {
    tls: {
      ca,
      cert,
      key,
      keyPassword: password?.value ?? null,
      verify,
      serverName: sni?.value.trim() || null,
      names,
    },
    auth,
    warnings,
  };
}

function othersMayRead(path: string): boolean {
  try {
    return (statSync(path).mode & 0o044) !== 0;
  } catch {
    return false;
  }
}

/** RABBITMQ_TLS for the RABBITMQ_* parts: on or off. */
export function tlsSwitch(text: string): boolean | null {
  const value = text.trim().toLowerCase();
  if (["", "off", "false", "0", "no"].includes(value)) return false;
  if (["on", "true", "1", "yes"].includes(value)) return true;
  return null;
}
