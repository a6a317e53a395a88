/**
 * HTTPS for the scheduler's own HTTP server: SCHEDULER_HTTP_TLS_CERT and SCHEDULER_HTTP_TLS_KEY
 * serve every path over HTTPS with the console's headers unchanged, `healthcheck` and `stats` ask
 * it, a replaced certificate is served after a change or SIGHUP (a bad pair keeps the old one),
 * and a console in clear on a non-loopback address is warned about.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { runBinary } from "../support/binary.ts";
import { startWithConsole } from "../support/console.ts";
import { freePort } from "../support/ports.ts";
import { sharedScope } from "../support/scope.ts";
import { waitFor } from "../support/services.ts";
import { createTestCa, type Issued, type TestCa } from "../support/test-ca.ts";

const scope = sharedScope();
const TOKEN = "https-test-token-0123456789";

let ca: TestCa;
let otherCa: TestCa;
let first: Issued;
let second: Issued;
let third: Issued;

beforeAll(() => {
  ca = createTestCa(scope.tempDir("conn-mq-https-ca-"));
  otherCa = createTestCa(scope.tempDir("conn-mq-https-other-"), "another CA");
  const names = { altNames: ["localhost", "127.0.0.1"], usage: "server" } as const;
  first = ca.issue("first", { commonName: "first.rune.test", ...names });
  second = ca.issue("second", { commonName: "second.rune.test", ...names });
  third = ca.issue("third", { commonName: "third.rune.test", ...names });
});

/** The certificate and key in files of their own, which the test replaces as a renewal would. */
function liveFiles(issued: Issued): { cert: string; key: string; replaceWith(next: Issued): void } {
  const dir = scope.tempDir("conn-mq-https-live-");
  const cert = join(dir, "tls.crt");
  const key = join(dir, "tls.key");
  copyFileSync(issued.cert, cert);
  copyFileSync(issued.key, key);
  return {
    cert,
    key,
    replaceWith(next) {
      copyFileSync(next.cert, `${cert}.new`);
      copyFileSync(next.key, `${key}.new`);
      renameSync(`${key}.new`, key);
      renameSync(`${cert}.new`, cert);
    },
  };
}

/** The CN of the certificate the server presents on a new connection. */
function servedName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(String(cn));
    });
    socket.on("error", reject);
  });
}

const headersOf = (response: Response) =>
  Object.fromEntries([...response.headers.entries()].filter(([name]) => !["date", "content-length"].includes(name)));

describe("served over HTTPS", () => {
  test("every path over HTTPS, the console's headers as over HTTP; healthcheck and stats ask it", async () => {
    const files = liveFiles(first);
    const tlsEnv = { SCHEDULER_HTTP_TLS_CERT: files.cert, SCHEDULER_HTTP_TLS_KEY: files.key };
    const [secure, plain] = await Promise.all([startWithConsole(scope, TOKEN, tlsEnv), startWithConsole(scope, TOKEN)]);
    const port = new URL(secure.base).port;
    const https = `https://127.0.0.1:${port}`;
    expect(secure.scheduler.output()).toContain(`HTTP health and metrics on https://127.0.0.1:${port}`);
    expect(secure.scheduler.output()).toContain(`Operator console on https://127.0.0.1:${port}/console/`);
    const caPem = await Bun.file(ca.caCert).text();
    const get = (base: string, path: string, token = false) =>
      fetch(`${base}${path}`, {
        tls: { ca: caPem },
        headers: token ? { authorization: `Bearer ${TOKEN}` } : {},
      });

    for (const path of ["/healthz", "/metrics", "/stats"]) expect((await get(https, path)).status).toBe(200);
    for (const path of ["/console/", "/console/api/session"]) {
      const [overTls, overHttp] = [await get(https, path, true), await get(plain.base, path, true)];
      expect(overTls.status).toBe(overHttp.status);
      expect(headersOf(overTls)).toEqual(headersOf(overHttp));
    }
    // Plain HTTP to the HTTPS port gets no answer.
    expect(
      await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status,
        () => "refused",
      ),
    ).toBe("refused");
    expect(plain.scheduler.output()).not.toContain("plain HTTP on");

    const probeEnv = { SCHEDULER_HTTP_PORT: port, ...tlsEnv };
    const pinned = await runBinary(["healthcheck"], probeEnv);
    expect([pinned.code, pinned.stdout]).toEqual([0, `healthy: ${https}/healthz answered 200 ok\n`]);
    const byCa = await runBinary(["healthcheck"], { ...probeEnv, SCHEDULER_HTTP_TLS_CA: ca.caCert });
    expect(byCa.code).toBe(0);
    const byName = await runBinary(["healthcheck", "--url", `https://localhost:${port}`], {
      SCHEDULER_HTTP_TLS_CA: ca.caCert,
    });
    expect([byName.code, byName.stdout]).toEqual([0, `healthy: https://localhost:${port}/healthz answered 200 ok\n`]);
    const untrusted = await runBinary(["healthcheck", "--url", `https://localhost:${port}`], {
      SCHEDULER_HTTP_TLS_CA: otherCa.caCert,
    });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toStartWith(
      `unhealthy: no answer from https://localhost:${port}/healthz: the server's certificate is not trusted (`,
    );
    expect(untrusted.stderr).toContain("set SCHEDULER_HTTP_TLS_CA to the CA that signed it");

    const stats = await runBinary(["stats", "--json"], { ...secure.db.env, ...probeEnv });
    expect(JSON.parse(stats.stdout).live).toMatchObject({ url: https, answered: true });
  }, 60_000);

  test("a replaced certificate is served after the change and on SIGHUP; a bad pair keeps the old one", async () => {
    const files = liveFiles(first);
    const { scheduler, base } = await startWithConsole(scope, TOKEN, {
      SCHEDULER_HTTP_TLS_CERT: files.cert,
      SCHEDULER_HTTP_TLS_KEY: files.key,
    });
    const port = Number(new URL(base).port);
    expect(await servedName(port)).toBe("first.rune.test");

    files.replaceWith(second);
    await scheduler.waitForLine(/INFO HTTPS certificate reloaded \(changed\)/, 15_000);
    expect(await servedName(port)).toBe("second.rune.test");

    // A key that is not the certificate's: refused, the served one stays.
    copyFileSync(third.cert, files.cert);
    await scheduler.waitForLine(
      /ERROR HTTPS certificate reload \(changed\) failed: .*still serving the previous certificate/,
      15_000,
    );
    expect(await servedName(port)).toBe("second.rune.test");

    copyFileSync(third.key, files.key);
    scheduler.proc.kill("SIGHUP");
    await scheduler.waitForLine(/INFO HTTPS certificate reloaded \(SIGHUP\)/, 5_000);
    expect(await servedName(port)).toBe("third.rune.test");
    expect(scheduler.proc.exitCode).toBeNull();
  }, 60_000);
});

test("a SIGHUP with the files unchanged keeps the listener: a client's kept-alive connection is not cut", async () => {
  const files = liveFiles(first);
  const { scheduler, base } = await startWithConsole(scope, TOKEN, {
    SCHEDULER_HTTP_TLS_CERT: files.cert,
    SCHEDULER_HTTP_TLS_KEY: files.key,
  });
  const port = Number(new URL(base).port);
  // A connection kept alive between requests, as Prometheus keeps one between scrapes.
  const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
  let received = "";
  socket.on("data", (chunk) => {
    received += chunk.toString();
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const request = (close: boolean) =>
    socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${close ? "Connection: close\r\n" : ""}\r\n`);
  const answers = () => received.split("HTTP/1.1 200 OK").length - 1;
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  request(false);
  await waitFor("the first answer", () => answers() === 1);

  scheduler.proc.kill("SIGHUP");
  await scheduler.waitForLine(/HTTPS certificate (reloaded|unchanged) \(SIGHUP\)/, 5_000);
  if (!socket.destroyed) request(true);
  await closed;
  expect(answers()).toBe(2);
  expect(scheduler.output()).toContain("INFO HTTPS certificate unchanged (SIGHUP)");
});

describe("refusals and warnings", () => {
  test("a missing certificate or key file, or half the pair, is exit 2 naming the setting", async () => {
    const missing = await runBinary(["run"], {
      SCHEDULER_HTTP_PORT: "8080",
      SCHEDULER_HTTP_TLS_CERT: "/nonexistent/tls.crt",
      SCHEDULER_HTTP_TLS_KEY: first.key,
    });
    expect([missing.code, missing.stderr]).toEqual([
      2,
      'rune-scheduler: configuration error: SCHEDULER_HTTP_TLS_CERT="/nonexistent/tls.crt" is invalid: expected a readable PEM file (ENOENT)\n',
    ]);
    const half = await runBinary(["run"], { SCHEDULER_HTTP_TLS_CERT: first.cert });
    expect(half.code).toBe(2);
    expect(half.stderr).toContain(
      'SCHEDULER_HTTP_TLS_KEY="" is invalid: expected a PEM key file beside SCHEDULER_HTTP_TLS_CERT (both or neither)',
    );
  });

  test("a certificate that is not PEM, or a key that is not the certificate's, is exit 2 naming both settings, not the host and port", async () => {
    const port = String(await freePort());
    const notPem = join(scope.tempDir("conn-mq-https-bad-"), "tls.crt");
    writeFileSync(notPem, "not a certificate\n");
    for (const [cert, key] of [
      [notPem, first.key],
      [first.cert, second.key],
    ] as const) {
      const ran = await runBinary(["run"], {
        SCHEDULER_HTTP_PORT: port,
        SCHEDULER_HTTP_TLS_CERT: cert,
        SCHEDULER_HTTP_TLS_KEY: key,
      });
      const line = ran.stdout.split("\n").find((l) => l.includes("CRITICAL")) ?? ran.stdout + ran.stderr;
      expect(ran.code).toBe(2);
      expect(line).toContain("CRITICAL the HTTPS certificate and key could not be loaded: ");
      expect(line).toContain(
        `; check SCHEDULER_HTTP_TLS_CERT=${cert} and SCHEDULER_HTTP_TLS_KEY=${key}: PEM files, the certificate (chain) and its unencrypted private key`,
      );
      expect(line).not.toContain("SCHEDULER_HTTP_HOST");
    }
  });

  test("with the HTTP server off (port 0), a certificate set does not take SIGHUP's default away", async () => {
    const { db, queue } = await scope.setup();
    const scheduler = scope.start({
      ...db.env,
      ...queue.env,
      SCHEDULER_HTTP_PORT: "0",
      SCHEDULER_HTTP_TLS_CERT: first.cert,
      SCHEDULER_HTTP_TLS_KEY: first.key,
    });
    await scheduler.waitForLine(/RabbitMQ connection established/, 20_000);
    scheduler.proc.kill("SIGHUP");
    // Killed by the signal (128 + 1), not still running 10 s on with SIGHUP swallowed.
    const ended = await Promise.race([scheduler.exited, Bun.sleep(10_000).then(() => "still running")]);
    expect(ended).toBe(128 + 1);
  });

  test("the console in clear on a non-loopback address is warned about", async () => {
    const port = await freePort();
    const { scheduler } = await startWithConsole(scope, TOKEN, {
      SCHEDULER_HTTP_HOST: "0.0.0.0",
      SCHEDULER_HTTP_PORT: String(port),
      SCHEDULER_CONSOLE_HOSTS: "localhost",
    });
    const line = await scheduler.waitForLine(/WARNING The operator console is served over plain HTTP/);
    expect(line).toContain(
      "on 0.0.0.0, which is not a loopback address: its token and pages cross the network in clear; set SCHEDULER_HTTP_TLS_CERT and SCHEDULER_HTTP_TLS_KEY",
    );
  });
});
