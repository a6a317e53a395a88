/**
 * RabbitMQ over TLS against a real node of the test's own (test/support/rabbit-tls.ts): a TLS
 * listener that requires a client certificate and offers EXTERNAL, certificates from a CA the
 * test makes. Every way of configuring TLS fires a schedule through it; every failure ends in
 * its named line; a rotated client certificate is used after a forced reconnect.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import amqp, { type Channel } from "amqplib";
import { runBinary } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { startTlsNode, type TlsNode } from "../support/rabbit-tls.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, uniqueName, waitFor } from "../support/services.ts";
import { createTestCa, type Issued, type TestCa } from "../support/test-ca.ts";

const scope = sharedScope();
// Ports of this file's own (56100-56199 AMQP/TLS, 26100-26199 distribution): never the shared node's.
const AMQP_PORT = 56100;
const TLS_PORT = 56101;
const KEY_PASSWORD = "Key-Passw0rd-Never-Shown";

let node: TlsNode;
let db: TestDatabase;
let ca: TestCa;
let dir: string;
let client: Issued; // CN rune-tls-ext: the EXTERNAL user
let rotated: Issued; // CN rune-tls-ext2: what a rotation puts in place
let encrypted: Issued; // key encrypted with KEY_PASSWORD
let stranger: Issued; // CN with no user on the node
let expiredClient: Issued;
let foreign: Issued; // signed by another CA
let expiredServer: Server;
let expiredServerPort: number;

beforeAll(async () => {
  dir = scope.tempDir("conn-mq-tls-");
  ca = createTestCa(dir);
  const server = ca.issue("server", {
    commonName: "localhost",
    altNames: ["localhost", "127.0.0.1"],
    usage: "server",
  });
  client = ca.issue("client", { commonName: "rune-tls-ext", usage: "client" });
  rotated = ca.issue("client2", { commonName: "rune-tls-ext2", usage: "client" });
  encrypted = ca.issue("encrypted", { commonName: "rune-tls-ext", usage: "client", keyPassword: KEY_PASSWORD });
  stranger = ca.issue("stranger", { commonName: "nobody-by-this-name", usage: "client" });
  expiredClient = ca.issue("expired-client", { commonName: "rune-tls-ext", usage: "client", days: -1 });
  const other = createTestCa(scope.tempDir("conn-mq-other-ca-"), "another CA");
  foreign = other.issue("foreign", { commonName: "rune-tls-ext", usage: "client" });
  const expired = ca.issue("expired-server", {
    commonName: "localhost",
    altNames: ["localhost", "127.0.0.1"],
    usage: "server",
    days: -1,
  });

  const [started, database] = await Promise.all([
    startTlsNode({
      name: "conn-mq-tls@localhost",
      dir: "/tmp/conn-mq-tls-node",
      amqpPort: AMQP_PORT,
      tlsPort: TLS_PORT,
      distPort: 26100,
      ca,
      server,
    }),
    scope.database(),
  ]);
  node = started;
  db = database;
  scope.defer(() => node.stop());
  await node.addUser("rune-tls-ext");
  await node.addUser("rune-tls-ext2");

  // A TLS server whose certificate has expired: the handshake fails before any AMQP is spoken.
  expiredServer = createServer({
    cert: await Bun.file(expired.cert).text(),
    key: await Bun.file(expired.key).text(),
  });
  expiredServer.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => expiredServer.listen(0, "127.0.0.1", resolve));
  expiredServerPort = (expiredServer.address() as { port: number }).port;
  scope.defer(() => new Promise<void>((resolve) => expiredServer.close(() => resolve())));
}, 120_000);

const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
const files = (issued: Issued) => ({ certfile: issued.cert, keyfile: issued.key });

/** A channel on the node's plain listener, on a connection of its own: the rotation test closes every connection. */
async function onNode<T>(body: (channel: Channel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${AMQP_PORT}`);
  connection.on("error", () => {});
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => {});
    return await body(channel);
  } finally {
    await connection.close().catch(() => {});
  }
}

const messagesIn = (queue: string) =>
  onNode(async (channel) => (await channel.checkQueue(queue)).messageCount).catch(() => 0);
const deleteQueue = (queue: string) => onNode((channel) => channel.deleteQueue(queue)).catch(() => {});

/** Starts `run` with `env`, a schedule due now and a queue of its own; resolves once its message is in the queue. */
async function fires(env: Record<string, string>): Promise<{ output: string; users: string[] }> {
  const queue = uniqueName("rune_tls_q");
  await insertSchedules(db.sql, [{ dueInMs: 0, intervalSeconds: 3600 }]);
  const scheduler = scope.start({ ...db.env, RABBITMQ_QUEUE: queue, ...env });
  try {
    await waitFor("the message on the TLS node", async () => (await messagesIn(queue)) >= 1, 30_000);
    const users = await node.connectionUsers();
    await scheduler.waitForLine(/RabbitMQ connection established/, 5_000);
    return { output: scheduler.output(), users };
  } finally {
    await scheduler.stop("SIGTERM");
    await deleteQueue(queue);
  }
}

async function checkMq(env: Record<string, string>, args: string[] = []) {
  return runBinary(["check-mq", ...args], { RABBITMQ_QUEUE: "rune_tls_check", SCHEDULER_CONNECT_TIMEOUT: "5", ...env });
}

describe("every way of configuring TLS fires a schedule", () => {
  test("amqps:// with cacertfile, certfile and keyfile (PLAIN login)", async () => {
    const url = `amqps://guest:guest@localhost:${TLS_PORT}?${q({ cacertfile: ca.caCert, ...files(client) })}`;
    const { output } = await fires({ RABBITMQ_URL: url });
    expect(output).toMatch(
      /RabbitMQ connection established where=amqps:\/\/guest:\*\*\*@localhost:56101\/ tls="localhost:56101: TLSv1\.[23], verified \(full\), server localhost expires \d{4}-\d\d-\d\d, client certificate expires \d{4}-\d\d-\d\d"/,
    );
    expect(output).toContain('mq_tls="verify_peer, CA file, client certificate"');
  });

  test("auth_mechanism=external logs in as the client certificate's CN", async () => {
    const url = `amqps://localhost:${TLS_PORT}?${q({ cacertfile: ca.caCert, ...files(client), auth_mechanism: "external" })}`;
    const { users } = await fires({ RABBITMQ_URL: url });
    expect(users).toContain("rune-tls-ext");
  });

  test("an encrypted key with password= in the URL, the password never shown", async () => {
    const url = `amqps://guest:guest@localhost:${TLS_PORT}?${q({ cacertfile: ca.caCert, ...files(encrypted), password: KEY_PASSWORD })}`;
    const { output } = await fires({ RABBITMQ_URL: url });
    expect(output).not.toContain(KEY_PASSWORD);
  });

  test("the RABBITMQ_* parts: RABBITMQ_TLS=on and the RABBITMQ_TLS_* files, EXTERNAL, an encrypted key", async () => {
    const { output, users } = await fires({
      RABBITMQ_HOST: "localhost",
      RABBITMQ_PORT: String(TLS_PORT),
      RABBITMQ_TLS: "on",
      RABBITMQ_TLS_CA: ca.caCert,
      RABBITMQ_TLS_CERT: encrypted.cert,
      RABBITMQ_TLS_KEY: encrypted.key,
      RABBITMQ_TLS_KEY_PASSWORD: KEY_PASSWORD,
      RABBITMQ_AUTH_MECHANISM: "external",
    });
    expect(users).toContain("rune-tls-ext");
    expect(output).not.toContain(KEY_PASSWORD);
  });

  test("AMQPLAIN over TLS", async () => {
    await fires({
      RABBITMQ_URL: `amqps://guest:guest@localhost:${TLS_PORT}?${q({ cacertfile: ca.caCert, ...files(client), auth_mechanism: "amqplain" })}`,
    });
  });

  test("verify=verify_none without a CA fires, with a warning", async () => {
    const url = `amqps://guest:guest@localhost:${TLS_PORT}?${q({ ...files(client), verify: "verify_none" })}`;
    const { output } = await fires({ RABBITMQ_URL: url });
    expect(output).toMatch(/WARNING RabbitMQ TLS verification is off \(verify=verify_none\)/);
    expect(output).toContain("localhost:56101: TLSv1.3, not verified");
  });

  test("server_name_indication names the host the certificate is for, when connecting by another address", async () => {
    const url = `amqps://guest:guest@127.0.0.2:${TLS_PORT}?${q({ cacertfile: ca.caCert, ...files(client), server_name_indication: "localhost" })}`;
    await fires({ RABBITMQ_URL: url });
  });

  test("server_name_indication=disable checks the chain only", async () => {
    const url = `amqps://guest:guest@127.0.0.2:${TLS_PORT}?${q({ cacertfile: ca.caCert, ...files(client), server_name_indication: "disable" })}`;
    const { output } = await fires({ RABBITMQ_URL: url });
    expect(output).toContain("127.0.0.2:56101: TLSv1.3, verified (CA only)");
  });

  test("several nodes in one URL list share the parameters given once", async () => {
    const dead = await freePort();
    const url = `amqps://guest:guest@127.0.0.1:${dead}?${q({ cacertfile: ca.caCert, ...files(client) })},amqps://guest:guest@localhost:${TLS_PORT}`;
    const { output } = await fires({ RABBITMQ_URL: url });
    expect(output).toContain(`where=amqps://guest:***@localhost:${TLS_PORT} tls="localhost:${TLS_PORT}: TLSv1`);
  });
});

describe("every failure ends in its named line", () => {
  const tlsUrl = (host: string, params: Record<string, string>, port = TLS_PORT) =>
    `amqps://guest:guest@${host}:${port}?${q(params)}`;

  test("check-mq shows what is in effect, in text and in --json", async () => {
    const env = { RABBITMQ_URL: tlsUrl("localhost", { cacertfile: ca.caCert, ...files(client) }) };
    const text = await checkMq(env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^ok RabbitMQ 3\.\S+ at amqps:\/\/guest:\*\*\*@localhost:56101\/ vhost "\/"\n {2}tls localhost:56101: TLSv1\.[23], verified \(full\), server localhost expires \d{4}-\d\d-\d\d, client certificate expires \d{4}-\d\d-\d\d\n/,
    );
    const json = JSON.parse((await checkMq(env, ["--json"])).stdout);
    expect(json.tls).toEqual([
      expect.objectContaining({
        host: "localhost:56101",
        encrypted: true,
        verified: "full",
        serverSubject: "localhost",
      }),
    ]);
    expect(json.nodes[0].tls.clientNotAfter).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  const cases: [string, () => Record<string, string>, string | RegExp | (() => string)][] = [
    [
      "untrusted CA",
      () => ({ RABBITMQ_URL: tlsUrl("localhost", files(client)) }),
      "FAILED RabbitMQ at amqps://guest:***@localhost:56101/: the server's certificate is not signed by a CA we trust (self signed certificate in certificate chain); give the CA's certificate (PEM) with cacertfile= in RABBITMQ_URL or RABBITMQ_TLS_CA",
    ],
    [
      "name mismatch",
      () => ({ RABBITMQ_URL: tlsUrl("127.0.0.2", { cacertfile: ca.caCert, ...files(client) }) }),
      `FAILED RabbitMQ at amqps://guest:***@127.0.0.2:56101/: the server's certificate is not for "127.0.0.2": it holds localhost, 127.0.0.1; connect by one of those names, or set server_name_indication= in RABBITMQ_URL or RABBITMQ_TLS_SERVER_NAME to the name the certificate holds`,
    ],
    [
      "expired server certificate",
      () => ({ RABBITMQ_URL: tlsUrl("localhost", { cacertfile: ca.caCert }, expiredServerPort) }),
      () =>
        `FAILED RabbitMQ at amqps://guest:***@localhost:${expiredServerPort}/: the server's certificate has expired; the broker must be given a new one (our side needs no change)`,
    ],
    [
      "client certificate required",
      () => ({
        RABBITMQ_HOST: "localhost",
        RABBITMQ_PORT: String(TLS_PORT),
        RABBITMQ_TLS: "on",
        RABBITMQ_TLS_CA: ca.caCert,
      }),
      "FAILED RabbitMQ at amqps://guest:***@localhost:56101 requires a client certificate (fail_if_no_peer_cert) and none was given; give one with RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY",
    ],
    [
      "client certificate from a CA the broker does not trust",
      () => ({ RABBITMQ_URL: tlsUrl("localhost", { cacertfile: ca.caCert, ...files(foreign) }) }),
      /^FAILED RabbitMQ at amqps:\/\/guest:\*\*\*@localhost:56101\/ refused our client certificate \(.*UNKNOWN_CA.*\): it is not signed by a CA the broker trusts \(its ssl_options\.cacertfile\); check certfile= and keyfile= in RABBITMQ_URL/,
    ],
    [
      "expired client certificate",
      () => ({ RABBITMQ_URL: tlsUrl("localhost", { cacertfile: ca.caCert, ...files(expiredClient) }) }),
      /^FAILED RabbitMQ at amqps:\/\/guest:\*\*\*@localhost:56101\/ refused our client certificate \(.*CERTIFICATE_EXPIRED.*\): it has expired; check certfile=/,
    ],
    [
      "plain AMQP to the TLS port",
      () => ({ RABBITMQ_HOST: "localhost", RABBITMQ_PORT: String(TLS_PORT) }),
      "FAILED RabbitMQ at amqp://guest:***@localhost:56101 reset the connection at the AMQP handshake; if that port is a TLS listener (5671 by default), use amqps:// (or RABBITMQ_TLS=on); otherwise is the broker restarting, or a proxy with no backend in front of it?",
    ],
    [
      "TLS to the plain port",
      () => ({ RABBITMQ_URL: tlsUrl("localhost", { cacertfile: ca.caCert, ...files(client) }, AMQP_PORT) }),
      "FAILED RabbitMQ at amqps://guest:***@localhost:56100/ did not answer TLS: that port speaks plain AMQP; use the broker's TLS port (5671 by default), or amqp:// (RABBITMQ_TLS=off) if plain AMQP is meant",
    ],
    [
      "EXTERNAL refused (no user of the certificate's name)",
      () => ({
        RABBITMQ_URL: `amqps://localhost:${TLS_PORT}?${q({ cacertfile: ca.caCert, ...files(stranger), auth_mechanism: "external" })}`,
      }),
      "FAILED RabbitMQ at amqps://localhost:56101 refused the EXTERNAL login: no user is named after our client certificate's subject (by default its CN, see ssl_cert_login_from), or that user may not use the vhost; create the user (rabbitmqctl add_user, clear_password) with permissions, or check certfile= and keyfile= in RABBITMQ_URL (or RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY)",
    ],
    [
      "AMQPLAIN with a wrong password",
      () => ({
        RABBITMQ_HOST: "localhost",
        RABBITMQ_PORT: String(AMQP_PORT),
        RABBITMQ_AUTH_MECHANISM: "amqplain",
        RABBITMQ_USER: "guest",
        RABBITMQ_PASSWORD: "wrong",
      }),
      "FAILED RabbitMQ rejected the credentials at amqp://guest:***@localhost:56100; check RABBITMQ_USER and RABBITMQ_PASSWORD (or RABBITMQ_URL)",
    ],
    [
      "wrong key password",
      () => ({
        RABBITMQ_URL: tlsUrl("localhost", { cacertfile: ca.caCert, ...files(encrypted), password: "not-the-password" }),
      }),
      "FAILED RabbitMQ at amqps://guest:***@localhost:56101/: the client key in keyfile in RABBITMQ_URL could not be decrypted: its password (password= in RABBITMQ_URL or RABBITMQ_TLS_KEY_PASSWORD) is missing or wrong",
    ],
  ];
  for (const [name, env, line] of cases) {
    test(name, async () => {
      const result = await checkMq(env());
      expect(result.code).toBe(1);
      const first = `${result.stdout}${result.stderr}`.split("\n")[0]!;
      if (typeof line === "string") expect(first).toBe(line);
      else if (typeof line === "function") expect(first).toBe(line());
      else expect(first).toMatch(line);
      expect(result.stdout + result.stderr).not.toContain(KEY_PASSWORD);
    });
  }

  test("a missing file is a configuration error at start, naming the setting and the path", async () => {
    const missing = join(dir, "no-such-ca.crt");
    const fromSetting = await checkMq({
      RABBITMQ_HOST: "localhost",
      RABBITMQ_TLS: "on",
      RABBITMQ_TLS_CA: missing,
    });
    expect(fromSetting.code).toBe(2);
    expect(fromSetting.stderr).toBe(
      `rune-scheduler: configuration error: RABBITMQ_TLS_CA="${missing}" is invalid: expected a readable file (ENOENT)\n`,
    );
    const fromUrl = await checkMq({
      RABBITMQ_URL: tlsUrl("localhost", {
        cacertfile: ca.caCert,
        certfile: dir,
        keyfile: client.key,
        password: KEY_PASSWORD,
      }),
    });
    expect(fromUrl.code).toBe(2);
    expect(fromUrl.stderr).toContain(`expected certfile to name a readable file ("${dir}": EISDIR)`);
    expect(fromUrl.stderr).toContain("password=***");
    expect(fromUrl.stderr).not.toContain(KEY_PASSWORD);
  });
});

describe("files are read at every connect", () => {
  test("a rotated client certificate is used after a forced reconnect; a vanished key is a named ERROR, retried", async () => {
    const live = scope.tempDir("conn-mq-rotate-");
    const cert = join(live, "tls.crt");
    const key = join(live, "tls.key");
    copyFileSync(client.cert, cert);
    copyFileSync(client.key, key);
    const queue = uniqueName("rune_tls_rotate");
    const scheduler = scope.start({
      ...db.env,
      RABBITMQ_QUEUE: queue,
      RABBITMQ_HOST: "localhost",
      RABBITMQ_PORT: String(TLS_PORT),
      RABBITMQ_TLS: "on",
      RABBITMQ_TLS_CA: ca.caCert,
      RABBITMQ_TLS_CERT: cert,
      RABBITMQ_TLS_KEY: key,
      RABBITMQ_AUTH_MECHANISM: "external",
      SCHEDULER_MAX_RETRIES: "0",
    });
    await scheduler.waitForLine(/RabbitMQ connection established/, 20_000);
    expect(await node.connectionUsers()).toContain("rune-tls-ext");

    // A rotation as cert-manager does it: new files in place, the old connection lives on.
    copyFileSync(rotated.cert, `${cert}.new`);
    copyFileSync(rotated.key, `${key}.new`);
    renameSync(`${cert}.new`, cert);
    renameSync(`${key}.new`, key);
    expect(await node.connectionUsers()).toContain("rune-tls-ext");
    await node.ctl("-q", "close_all_connections", "rotation test");
    await waitFor(
      "a connection as the rotated certificate's user",
      async () => {
        const users = await node.connectionUsers();
        return users.includes("rune-tls-ext2") && !users.includes("rune-tls-ext");
      },
      30_000,
    );

    // The key vanishes: the next connect fails with a line that names the file and the setting.
    rmSync(key);
    await node.ctl("-q", "close_all_connections", "vanished key test");
    await scheduler.waitForLine(
      new RegExp(
        `ERROR RabbitMQ failed \\(attempt \\d+\\); retrying every second, next report in .*cannot read ${key.replaceAll("/", "\\/")} \\(RABBITMQ_TLS_KEY\\): ENOENT; the file was readable at start`,
      ),
      30_000,
    );
    copyFileSync(rotated.key, key);
    await waitFor(
      "the link back once the key is restored",
      async () => (await node.connectionUsers()).includes("rune-tls-ext2"),
      60_000,
    );
    expect(scheduler.proc.exitCode).toBeNull();
    await scheduler.stop("SIGTERM");
    await deleteQueue(queue);
  }, 120_000);
});
