/**
 * RabbitMQ TLS settings as config/broker-tls.ts reads them: the amqps:// query parameters of
 * RabbitMQ's URI specification, the RABBITMQ_TLS_* settings for the parts, one set shared by
 * every node, and each refusal naming what to change. Files are real (a temporary directory).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/config.ts";
import { maskUrl } from "../../src/config/redact.ts";
import { pemFiles } from "../support/pem-files.ts";

const { dir, file } = pemFiles("conn-mq-unit-");
const CA = file("ca.crt", 0o644);
const CERT = file("client.crt", 0o644);
const KEY = file("client.key");
const OPEN_KEY = file("open.key", 0o644);

const load = (env: Record<string, string>) => loadConfig({ env });
function refusal(env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

describe("RabbitMQ's URI query parameters", () => {
  test("every parameter is read, taken out of the URL amqplib and the messages see, the key's password kept secret", () => {
    const url = `amqps://u:pw@mq.internal/prod?${q({
      cacertfile: CA,
      certfile: CERT,
      keyfile: KEY,
      password: "Key-Secret",
      verify: "verify_peer",
      server_name_indication: "mq.example",
      auth_mechanism: "EXTERNAL",
      heartbeat: "5",
    })}`;
    const { mq, secrets } = load({ RABBITMQ_URL: url });
    expect(mq.tls).toMatchObject({
      ca: { path: CA, setting: "cacertfile in RABBITMQ_URL" },
      cert: { path: CERT, setting: "certfile in RABBITMQ_URL" },
      key: { path: KEY, setting: "keyfile in RABBITMQ_URL" },
      keyPassword: "Key-Secret",
      verify: "verify_peer",
      serverName: "mq.example",
    });
    expect(mq.auth).toBe("external");
    expect(mq.urls).toEqual(["amqps://u:pw@mq.internal/prod?heartbeat=5"]);
    expect(mq.where).toBe("amqps://u:***@mq.internal/prod?heartbeat=5");
    expect(secrets).toContain("Key-Secret");
    expect(mq.warnings).toEqual([]);
  });

  test("several nodes share the parameters given once; given differently, they are refused", () => {
    const { mq } = load({ RABBITMQ_URL: `amqps://a:5671?${q({ cacertfile: CA })},amqps://b:5671` });
    expect(mq.tls?.ca?.path).toBe(CA);
    expect(mq.urls).toEqual(["amqps://a:5671", "amqps://b:5671"]);
    expect(
      refusal({ RABBITMQ_URL: `amqps://a?${q({ cacertfile: CA })},amqps://b?${q({ cacertfile: CERT })}` }),
    ).toEndWith("expected the same cacertfile in every URL that gives it (one set of TLS settings serves every node)");
  });

  test("a URL's query wins over the settings, which fill in what it leaves out", () => {
    const { mq } = load({
      RABBITMQ_URL: `amqps://mq?${q({ cacertfile: CA, certfile: CERT, keyfile: KEY })}`,
      RABBITMQ_TLS_CA: CERT,
      RABBITMQ_TLS_KEY_PASSWORD: "from-the-setting",
    });
    expect(mq.tls).toMatchObject({ ca: { path: CA }, keyPassword: "from-the-setting" });
  });

  test("a refusal shows the URL with its key password masked", () => {
    const message = refusal({
      RABBITMQ_URL: `amqps://u:pw@mq?${q({ cacertfile: join(dir, "gone.crt"), password: "Key-Secret" })}`,
    });
    expect(message).toBe(
      `RABBITMQ_URL="amqps://u:***@mq?cacertfile=${encodeURIComponent(join(dir, "gone.crt"))}&password=***" is invalid: expected cacertfile to name a readable file ("${join(dir, "gone.crt")}": ENOENT)`,
    );
  });

  test("a key password with a literal comma is masked whole, in a list of nodes too", () => {
    // A comma ends the password only where the next node's URL starts, as RABBITMQ_URL is split.
    const url = `amqps://u:pw@mq?cacertfile=${join(dir, "gone.crt")}&password=Key,Secret-Tail`;
    const message = refusal({ RABBITMQ_URL: url });
    expect(message).not.toContain("Secret-Tail");
    expect(message).toContain('&password=***" is invalid');
    expect(maskUrl(`amqps://a?password=Key,Tail , amqps://u:pw@b?password=Key,Tail,amqps://c`)).toBe(
      "amqps://a?password=*** , amqps://u:***@b?password=***,amqps://c",
    );
  });
});

describe("the RABBITMQ_* parts", () => {
  test("RABBITMQ_TLS=on makes every node amqps, on 5671 unless RABBITMQ_PORT says otherwise", () => {
    expect(load({ RABBITMQ_HOST: "a,b:5999", RABBITMQ_TLS: "on" }).mq.urls).toEqual([
      "amqps://guest:guest@a:5671",
      "amqps://guest:guest@b:5999",
    ]);
    expect(load({ RABBITMQ_HOST: "a", RABBITMQ_TLS: "on", RABBITMQ_PORT: "5672" }).mq.urls).toEqual([
      "amqps://guest:guest@a:5672",
    ]);
    expect(refusal({ RABBITMQ_TLS: "maybe" })).toBe('RABBITMQ_TLS="maybe" is invalid: expected on or off');
  });

  test("RABBITMQ_TLS=on beside an amqp:// RABBITMQ_URL is refused, not a connection in clear", () => {
    // The URL's scheme decides; asked for TLS and given a plain node, say so instead of sending the password in clear.
    const expected =
      'RABBITMQ_TLS="on" is invalid: expected amqps:// for every node of RABBITMQ_URL, whose scheme decides (amqp:// is plain AMQP, reached in clear), or RABBITMQ_TLS=off';
    expect(refusal({ RABBITMQ_TLS: "on", RABBITMQ_URL: "amqp://u:pw@mq/vh" })).toBe(expected);
    expect(refusal({ RABBITMQ_TLS: "on", RABBITMQ_URL: "amqps://a,amqp://b" })).toBe(expected);
    expect(load({ RABBITMQ_TLS: "on", RABBITMQ_URL: "amqps://a,amqps://b" }).mq.urls).toEqual([
      "amqps://a",
      "amqps://b",
    ]);
    expect(load({ RABBITMQ_TLS: "off", RABBITMQ_URL: "amqp://a" }).mq.urls).toEqual(["amqp://a"]);
  });

  test("the files are named by their settings", () => {
    const { mq } = load({ RABBITMQ_TLS: "on", RABBITMQ_TLS_CA: CA, RABBITMQ_TLS_CERT: CERT, RABBITMQ_TLS_KEY: KEY });
    expect(mq.tls).toMatchObject({
      ca: { path: CA, setting: "RABBITMQ_TLS_CA" },
      key: { path: KEY, setting: "RABBITMQ_TLS_KEY" },
      names: { ca: "RABBITMQ_TLS_CA", cert: "RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY" },
    });
    expect(refusal({ RABBITMQ_TLS: "on", RABBITMQ_TLS_CA: dir })).toBe(
      `RABBITMQ_TLS_CA="${dir}" is invalid: expected a readable file (EISDIR)`,
    );
  });
});

describe("what is refused, what is warned about", () => {
  test("half a client certificate, TLS settings with no TLS node, EXTERNAL without a certificate, unknown values", () => {
    expect(refusal({ RABBITMQ_TLS: "on", RABBITMQ_TLS_CERT: CERT })).toEndWith(
      "expected a client certificate and its key together (certfile and keyfile, or RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY)",
    );
    expect(refusal({ RABBITMQ_TLS_CA: CA })).toBe(
      `RABBITMQ_TLS_CA="${CA}" is invalid: expected amqps:// (or RABBITMQ_TLS=on): TLS settings are given but every node is plain AMQP`,
    );
    expect(refusal({ RABBITMQ_URL: `amqp://mq?${q({ cacertfile: CA })}` })).toContain(
      "expected amqps:// (or RABBITMQ_TLS=on): TLS settings are given but every node is plain AMQP",
    );
    expect(refusal({ RABBITMQ_TLS: "on", RABBITMQ_AUTH_MECHANISM: "external" })).toStartWith(
      'RABBITMQ_AUTH_MECHANISM="external" is invalid: expected auth_mechanism=external only over TLS with a client certificate',
    );
    expect(refusal({ RABBITMQ_TLS: "on", RABBITMQ_TLS_VERIFY: "verify_some" })).toBe(
      'RABBITMQ_TLS_VERIFY="verify_some" is invalid: expected verify_peer or verify_none',
    );
    expect(refusal({ RABBITMQ_URL: "amqps://mq?auth_mechanism=kerberos" })).toEndWith(
      "expected auth_mechanism to be one of plain, amqplain, external",
    );
  });

  test("verification off, and a key others can read, are warnings", () => {
    const { mq } = load({
      RABBITMQ_URL: `amqps://mq?${q({ verify: "verify_none", certfile: CERT, keyfile: OPEN_KEY })}`,
    });
    expect(mq.warnings).toEqual([
      `the RabbitMQ client key ${OPEN_KEY} (keyfile in RABBITMQ_URL) can be read by other users of this machine; chmod 600 it`,
      "RabbitMQ TLS verification is off (verify=verify_none): the connection is encrypted but the server is not authenticated, so anyone on the path can pose as it; give the CA with cacertfile or RABBITMQ_TLS_CA instead",
    ]);
  });

  test("a name check turned off (server_name_indication=disable) is a warning too, from the URL or the setting", () => {
    const warning =
      "RabbitMQ TLS does not check the server's name (server_name_indication=disable): any certificate signed by a trusted CA is accepted, so a server holding one made for another name can pose as the broker; set it to the name the broker's certificate holds instead";
    expect(load({ RABBITMQ_URL: "amqps://mq?server_name_indication=disable" }).mq.warnings).toEqual([warning]);
    expect(load({ RABBITMQ_HOST: "mq", RABBITMQ_TLS: "on", RABBITMQ_TLS_SERVER_NAME: "DISABLE" }).mq.warnings).toEqual([
      warning,
    ]);
    // A name to check instead of the host's is no weakening.
    expect(load({ RABBITMQ_URL: "amqps://mq?server_name_indication=mq.example" }).mq.warnings).toEqual([]);
  });
});
