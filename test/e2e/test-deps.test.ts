/**
 * scripts/test-deps.sh says what it installs and why before it installs anything as root. The
 * system commands it calls are stand-ins on PATH here, so nothing is installed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runCommand } from "../support/binary.ts";

const SCRIPT = resolve(import.meta.dir, "../../scripts/test-deps.sh");
let bin: string;

beforeAll(() => {
  bin = mkdtempSync(join(tmpdir(), "test-deps-"));
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  // Every package but python3-cryptography is missing; we are root; apt-get says when it runs.
  stub("dpkg-query", 'case "$*" in *python3-cryptography*) printf "install ok installed";; *) exit 1;; esac');
  stub("id", 'if [ -n "$FAKE_UID" ]; then echo "$FAKE_UID"; else echo 0; fi');
  stub("apt-get", 'echo "apt-get $*" >> "$BIN/apt.log"; echo "APT-GET $*"');
});
afterAll(() => rmSync(bin, { recursive: true, force: true }));

const run = async (env: Record<string, string> = {}) => {
  const { code, stdout, stderr } = await runCommand(["bash", SCRIPT], {
    env: { PATH: `${bin}:${process.env.PATH}`, BIN: bin, ...env },
  });
  return { code, output: stdout + stderr };
};

test("as root: one line per group, what and why, before apt-get runs", async () => {
  const { code, output } = await run();
  expect(code).toBe(0);
  const firstApt = output.indexOf("APT-GET");
  expect(firstApt).toBeGreaterThan(0);
  expect(output.slice(0, firstApt)).toMatchInlineSnapshot(`
    "test-deps: installing Debian packages as root (apt-get update, then apt-get install --no-install-recommends):
    test-deps:   systemd systemd-container strace: the systemd unit tests (test/e2e/systemd.test.ts) check and boot the unit: systemd-analyze, journalctl, systemd-nspawn, strace
    test-deps:   util-linux coreutils libc-bin ca-certificates musl-tools libstdc++6: the image and release tests (test/e2e/rootfs.test.ts, release.test.ts) build a root filesystem and run the musl binary in it
    test-deps:   postgresql-15 pgbouncer openssl: the TLS and pooler tests (test/e2e/postgres-tls.test.ts, pgbouncer.test.ts) start a PostgreSQL 15 with ssl=on and a PgBouncer of their own, with certificates made by openssl
    test-deps:   podman runc: the image tests (test/e2e/image.test.ts) build Dockerfile.scratch and run it with Debian's podman, on runc (scripts/podman/containers.conf)
    test-deps:   chromium: the console browser tests (test/e2e/console-browser.test.ts) drive Debian's Chromium through playwright-core
    "
  `);
  expect(readFileSync(join(bin, "apt.log"), "utf8")).not.toContain("python3-cryptography");
});

test("not root: names the same groups and the command to run, installs nothing", async () => {
  rmSync(join(bin, "apt.log"), { force: true });
  const { code, output } = await run({ FAKE_UID: "1000" });
  expect(code).toBe(1);
  expect(output).toMatchInlineSnapshot(`
    "test-deps: these Debian packages are missing:
    test-deps:   systemd systemd-container strace: the systemd unit tests (test/e2e/systemd.test.ts) check and boot the unit: systemd-analyze, journalctl, systemd-nspawn, strace
    test-deps:   util-linux coreutils libc-bin ca-certificates musl-tools libstdc++6: the image and release tests (test/e2e/rootfs.test.ts, release.test.ts) build a root filesystem and run the musl binary in it
    test-deps:   postgresql-15 pgbouncer openssl: the TLS and pooler tests (test/e2e/postgres-tls.test.ts, pgbouncer.test.ts) start a PostgreSQL 15 with ssl=on and a PgBouncer of their own, with certificates made by openssl
    test-deps:   podman runc: the image tests (test/e2e/image.test.ts) build Dockerfile.scratch and run it with Debian's podman, on runc (scripts/podman/containers.conf)
    test-deps:   chromium: the console browser tests (test/e2e/console-browser.test.ts) drive Debian's Chromium through playwright-core
    test-deps: install them as root: apt-get install systemd systemd-container strace util-linux coreutils libc-bin ca-certificates musl-tools libstdc++6 postgresql-15 pgbouncer openssl podman runc chromium
    "
  `);
  expect(() => readFileSync(join(bin, "apt.log"))).toThrow();
});
