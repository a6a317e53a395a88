/**
 * scripts/systemd/rune-scheduler.service and its example environment file, checked with the
 * tools of Debian's systemd package (scripts/test-deps.sh installs it) and without a running
 * systemd: CI machines have none as PID 1. `verify` runs against a temporary root holding the
 * installed layout (binary, unit, environment file, the distribution's own units), so it also
 * checks that ExecStart names an executable. The seccomp allow-list is checked against every
 * system call the binary makes under strace while it does its work. And the unit really runs:
 * systemd-nspawn boots this machine's own systemd in a container, which starts the unit with
 * all of its sandboxing, against the test's database and queue, with its passwords in root-only
 * 0600 files that reach the dynamic user only through LoadCredential=.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { SETTINGS } from "../../src/config/settings.ts";
import { baseEnv, requireBinary } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { createRabbitUser, type RabbitUser } from "../support/rabbit-user.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, type TestQueue, uniqueName, waitFor } from "../support/services.ts";

const REPO = resolve(import.meta.dir, "../..");
const UNIT_FILE = join(REPO, "scripts/systemd/rune-scheduler.service");
const ENV_FILE = join(REPO, "scripts/systemd/rune-scheduler.env");
const UNIT = readFileSync(UNIT_FILE, "utf8");
/** The highest exposure this unit may score; lower it when the unit gets tighter. */
const MAX_EXPOSURE = 1.2;

/** `[Service]` directives in order, each with every value it is given (some repeat). */
function section(text: string, name: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.startsWith("[")) {
      current = line;
      continue;
    }
    if (current !== `[${name}]`) continue;
    const at = line.indexOf("=");
    const key = line.slice(0, at);
    result.set(key, [...(result.get(key) ?? []), line.slice(at + 1)]);
  }
  return result;
}

function envFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

/** systemd time spans as the unit uses them: "30s", "5s", "1min", "500ms", or plain seconds. */
function seconds(span: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m)?$/.exec(span.trim());
  if (!match) throw new Error(`unsupported time span ${span}`);
  const factor = { ms: 0.001, s: 1, sec: 1, min: 60, m: 60 }[match[2] ?? "s"]!;
  return Number(match[1]) * factor;
}

function analyze(args: string[]): { code: number; output: string } {
  const result = Bun.spawnSync(["systemd-analyze", ...args], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SYSTEMD_COLORS: "0" },
  });
  return { code: result.exitCode, output: result.stdout.toString() + result.stderr.toString() };
}

/** The installed layout every block below uses; each block has its own scope for its services. */
const file = sharedScope();
let root: string;
const service = section(UNIT, "Service");

beforeAll(() => {
  root = file.tempDir("rune-systemd-");
  mkdirSync(join(root, "usr/local/bin"), { recursive: true });
  copyFileSync(requireBinary(), join(root, "usr/local/bin/rune-scheduler"));
  chmodSync(join(root, "usr/local/bin/rune-scheduler"), 0o755);
  // verify resolves the unit's dependencies (sysinit.target, …) inside the root.
  cpSync("/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
  copyFileSync(UNIT_FILE, join(root, "etc/systemd/system/rune-scheduler.service"));
  mkdirSync(join(root, "etc/rune-scheduler"), { recursive: true });
  copyFileSync(ENV_FILE, join(root, "etc/rune-scheduler/rune-scheduler.env"));
});

describe("rune-scheduler.service", () => {
  test("passes systemd-analyze verify without a warning, installed as docs/install.md says", () => {
    const { code, output } = analyze(["verify", `--root=${root}`, "rune-scheduler.service"]);
    expect(output).toBe("");
    expect(code).toBe(0);
  });

  test(`scores an exposure of ${MAX_EXPOSURE} or less in systemd-analyze security --offline`, () => {
    const { code, output } = analyze([
      "security",
      "--offline=true",
      `--root=${root}`,
      "--no-pager",
      "rune-scheduler.service",
    ]);
    expect(code).toBe(0);
    const score = Number(/Overall exposure level for rune-scheduler\.service: (\d+\.\d)/.exec(output)?.[1]);
    expect(score).toBeLessThanOrEqual(MAX_EXPOSURE);
  });

  test("runs the binary as a service that restarts, and stops it with SIGTERM", () => {
    expect(service.get("Type")).toEqual(["exec"]);
    expect(service.get("ExecStart")).toEqual(["/usr/local/bin/rune-scheduler run"]);
    expect(service.get("EnvironmentFile")).toEqual(["/etc/rune-scheduler/rune-scheduler.env"]);
    expect(service.get("Restart")).toEqual(["always"]);
    expect(seconds(service.get("RestartSec")![0]!)).toBeGreaterThan(0);
    expect(service.get("RestartPreventExitStatus")).toEqual(["2"]);
    expect(service.get("KillSignal")).toEqual(["SIGTERM"]);
  });

  test("hands the passwords over as credentials, so root-only files reach the dynamic user", () => {
    expect(service.get("LoadCredential")).toEqual([
      "pg-password:/etc/rune/pg-password",
      "mq-password:/etc/rune/mq-password",
    ]);
    expect(service.get("Environment")).toEqual([
      "POSTGRES_PASSWORD_FILE=%d/pg-password",
      "RABBITMQ_PASSWORD_FILE=%d/mq-password",
    ]);
    // A password in the environment file would win over its credential (config reads it first).
    expect(
      Object.keys(envFile(readFileSync(ENV_FILE, "utf8"))).filter((key) => /PASSWORD|_URL$|KEY$/.test(key)),
    ).toEqual([]);
  });

  test("gives a stop more time than the scheduler's shutdown timeout, default and example", () => {
    const stopSeconds = seconds(service.get("TimeoutStopSec")![0]!);
    const byDefault = loadConfig({ env: {} }).shutdownTimeoutMs / 1000;
    const inExample = loadConfig({ env: envFile(readFileSync(ENV_FILE, "utf8")) }).shutdownTimeoutMs / 1000;
    expect(stopSeconds).toBeGreaterThan(byDefault);
    expect(stopSeconds).toBeGreaterThan(inExample);
  });

  test("carries the hardening: its own user, no new privileges, a read-only system", () => {
    expect(service.get("DynamicUser") ?? service.get("User")).toBeDefined();
    expect(
      Object.fromEntries(
        [
          "NoNewPrivileges",
          "ProtectSystem",
          "ProtectHome",
          "PrivateTmp",
          "PrivateDevices",
          "CapabilityBoundingSet",
          "RestrictAddressFamilies",
          "MemoryMax",
        ].map((key) => [key, service.get(key)]),
      ),
    ).toEqual({
      NoNewPrivileges: ["yes"],
      ProtectSystem: ["strict"],
      ProtectHome: ["yes"],
      PrivateTmp: ["yes"],
      PrivateDevices: ["yes"],
      CapabilityBoundingSet: [""],
      RestrictAddressFamilies: ["AF_INET AF_INET6 AF_UNIX"],
      MemoryMax: [expect.stringMatching(/^\d+[KMG]$/)],
    });
    expect(service.get("SystemCallFilter")?.[0]).toBe("@system-service");
  });
});

describe("rune-scheduler.env", () => {
  test("sets only variables the program reads, with values it accepts", () => {
    const env = envFile(readFileSync(ENV_FILE, "utf8"));
    const known = new Set(SETTINGS.map((setting) => setting.env));
    expect(Object.keys(env).filter((key) => !known.has(key))).toEqual([]);
    expect(() => loadConfig({ env })).not.toThrow();
  });
});

describe("SystemCallFilter", () => {
  const scope = sharedScope();
  let db: TestDatabase;
  let queue: TestQueue;
  const work = () => join(root, "strace");

  beforeAll(async () => {
    mkdirSync(work(), { recursive: true });
    ({ db, queue } = await scope.setup({ consume: true }));
  });

  /** The syscall names in a group, nested groups expanded, as this systemd defines them. */
  function group(name: string, seen = new Set<string>()): Set<string> {
    const names = new Set<string>();
    if (seen.has(name)) return names;
    seen.add(name);
    const listing = Bun.spawnSync(["systemd-analyze", "syscall-filter", name, "--no-pager"]).stdout.toString();
    for (const line of listing.split("\n").slice(1)) {
      const entry = line.trim();
      if (entry === "" || entry.startsWith("#")) continue;
      for (const syscall of entry.startsWith("@") ? group(entry, seen) : [entry]) names.add(syscall);
    }
    return names;
  }

  function traced(args: string[], env: Record<string, string>, name: string) {
    const log = join(work(), name);
    const proc = Bun.spawn(["strace", "-f", "-qq", "-o", log, requireBinary(), ...args], {
      env: baseEnv(env),
      cwd: work(),
      stdout: "pipe",
      stderr: "pipe",
    });
    scope.defer(() => proc.kill("SIGKILL"));
    return { proc, log };
  }

  function syscalls(log: string): Set<string> {
    const names = new Set<string>();
    for (const line of readFileSync(log, "utf8").split("\n")) {
      const match = /^\d+\s+([a-z0-9_]+)\(/.exec(line);
      if (match) names.add(match[1]!);
    }
    return names;
  }

  test("allows every system call the binary makes to check, publish, serve HTTP and stop", async () => {
    const env = { ...db.env, ...queue.env, POSTGRES_HOST: "localhost" };
    const checks = [traced(["check-db"], env, "check-db"), traced(["check-mq"], env, "check-mq")];
    expect(await Promise.all(checks.map((c) => c.proc.exited))).toEqual([0, 0]);

    const [id] = await insertSchedules(db.sql, [{ dueInMs: -1_000, intervalSeconds: 3600 }]);
    const port = await freePort();
    const run = traced(["run"], { ...env, SCHEDULER_HTTP_PORT: String(port), SCHEDULER_POLL_INTERVAL: "1" }, "run");
    await waitFor("the message", () => queue.messages.find((m) => m.body.schedule_id === id), 30_000);
    await waitFor("/metrics", async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok);
    // strace forks the binary: signal the binary, as systemd would (KillSignal=SIGTERM).
    const [child] = readFileSync(`/proc/${run.proc.pid}/task/${run.proc.pid}/children`, "utf8").trim().split(/\s+/);
    process.kill(Number(child), "SIGTERM");
    expect(await run.proc.exited).toBe(0);

    const used = new Set([...checks.map((c) => c.log), run.log].flatMap((log) => [...syscalls(log)]));
    const filters = service.get("SystemCallFilter")!;
    const allowed = new Set(
      filters
        .filter((f) => !f.startsWith("~"))
        .flatMap((f) => f.split(/\s+/))
        .flatMap((g) => [...group(g)]),
    );
    const denied = new Set(
      filters
        .filter((f) => f.startsWith("~"))
        .flatMap((f) => f.slice(1).split(/\s+/))
        .flatMap((g) => [...group(g)]),
    );
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((name) => !allowed.has(name) || denied.has(name)).sort()).toEqual([]);
  });
});

describe("under systemd", () => {
  const scope = sharedScope();
  let db: TestDatabase;
  let queue: TestQueue;
  let user: RabbitUser;
  const boot = () => join(root, "boot");

  beforeAll(async () => {
    ({ db, queue } = await scope.setup({ consume: true }));
    // RabbitMQ checks passwords (the test PostgreSQL trusts local connections): connecting as
    // this user proves the credential's content reached the scheduler.
    user = await createRabbitUser({ configure: ".*", write: ".*", read: ".*" });
    scope.defer(() => user.drop());
  });

  /** What `unit` wrote to the container's journal. */
  const journalOf = (unit: string) =>
    Bun.spawnSync([
      "journalctl",
      `--directory=${join(boot(), "journal")}`,
      "-u",
      unit,
      "-o",
      "cat",
      "--no-pager",
    ]).stdout.toString();

  /** The status line of the process running `binary` (in any PID namespace), once it exists. */
  function statusOf(binary: string): Record<string, string> | null {
    for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] !== binary) continue;
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        return Object.fromEntries(status.split("\n").map((line) => line.split(/:\s*/, 2) as [string, string]));
      } catch {}
    }
    return null;
  }

  test("systemd starts it sandboxed as a dynamic user, it publishes, and stops cleanly on SIGTERM", async () => {
    const [id] = await insertSchedules(db.sql, [{ dueInMs: -1_000, intervalSeconds: 3600, name: "under-systemd" }]);
    const port = await freePort();
    mkdirSync(join(boot(), "journal"), { recursive: true });
    // /usr is this machine's, read-only: the binary goes to /opt, the one change to the unit.
    const binary = `/opt/${uniqueName("rune")}/rune-scheduler`;
    writeFileSync(join(boot(), "path.conf"), `[Service]\nExecStart=\nExecStart=${binary} run\n`);
    writeFileSync(
      join(boot(), "rune-test.target"),
      "[Unit]\nRequires=basic.target rune-scheduler.service\nWants=rune-direct.service\nAfter=basic.target rune-scheduler.service rune-direct.service\n",
    );
    // No password in the environment file: the unit's LoadCredential= brings them.
    const env = {
      ...db.env,
      ...queue.env,
      RABBITMQ_USER: user.env.RABBITMQ_USER!,
      SCHEDULER_HTTP_PORT: String(port),
      SCHEDULER_POLL_INTERVAL: "1",
    };
    writeFileSync(
      join(boot(), "rune-scheduler.env"),
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(""),
    );
    // The secrets as docs/install.md installs them: root-only, 0600, one trailing newline.
    const secrets = join(boot(), "secrets");
    mkdirSync(secrets, { recursive: true, mode: 0o700 });
    writeFileSync(join(secrets, "pg-password"), "unused-by-trust-auth\n", { mode: 0o600 });
    writeFileSync(join(secrets, "mq-password"), `${user.env.RABBITMQ_PASSWORD}\n`, { mode: 0o600 });
    expect(statSync(join(secrets, "mq-password"))).toMatchObject({ uid: 0, mode: 0o100600 });
    // The control: the same unit told to read the root-only file itself, which a DynamicUser cannot.
    writeFileSync(
      join(boot(), "direct.conf"),
      "[Service]\nEnvironment=POSTGRES_PASSWORD_FILE=/etc/rune/pg-password\nRestart=no\n",
    );

    const container = Bun.spawn(
      [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--directory=/",
        "--volatile=yes",
        "--console=pipe",
        `--machine=${uniqueName("rune").replaceAll("_", "-").slice(0, 60)}`,
        "--bind-ro=/etc/nsswitch.conf",
        "--bind-ro=/etc/passwd",
        "--bind-ro=/etc/group",
        "--bind-ro=/etc/hosts",
        `--bind=${join(boot(), "journal")}:/var/log/journal`,
        `--bind-ro=${UNIT_FILE}:/etc/systemd/system/rune-scheduler.service`,
        `--bind-ro=${join(boot(), "path.conf")}:/etc/systemd/system/rune-scheduler.service.d/path.conf`,
        `--bind-ro=${join(boot(), "rune-test.target")}:/etc/systemd/system/rune-test.target`,
        `--bind-ro=${join(boot(), "rune-scheduler.env")}:/etc/rune-scheduler/rune-scheduler.env`,
        `--bind-ro=${secrets}:/etc/rune`,
        `--bind-ro=${UNIT_FILE}:/etc/systemd/system/rune-direct.service`,
        `--bind-ro=${join(boot(), "path.conf")}:/etc/systemd/system/rune-direct.service.d/path.conf`,
        `--bind-ro=${join(boot(), "direct.conf")}:/etc/systemd/system/rune-direct.service.d/direct.conf`,
        `--bind-ro=${requireBinary()}:${binary}`,
        "--boot",
        "--",
        "systemd.unit=rune-test.target",
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    scope.defer(async () => {
      container.kill("SIGKILL");
      await container.exited;
    });

    await waitFor(
      "the message published by the service",
      () => queue.messages.find((m) => m.body.schedule_id === id),
      30_000,
    );
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const status = statusOf(binary)!;
    expect(Number(status.Uid!.split(/\s+/)[0])).toBeGreaterThanOrEqual(61184); // DynamicUser's range
    expect({
      NoNewPrivs: status.NoNewPrivs,
      Seccomp: status.Seccomp,
      CapBnd: status.CapBnd,
      CapEff: status.CapEff,
    }).toEqual({
      NoNewPrivs: "1",
      Seccomp: "2",
      CapBnd: "0000000000000000",
      CapEff: "0000000000000000",
    });

    // nspawn turns SIGTERM into a halt of the container: systemd stops the unit with KillSignal.
    container.kill("SIGTERM");
    expect(await container.exited).toBe(0);
    const journal = journalOf("rune-scheduler.service");
    expect(journal).toContain("SIGTERM received");
    expect(journal).toContain("Final statistics");
    expect(journal).toContain("rune-scheduler.service: Deactivated successfully.");
    expect(journal).not.toMatch(/timed out|Killing process|Failed with result/);
    // Without the credential the dynamic user cannot read the 0600 root file: exit 2, named.
    const direct = journalOf("rune-direct.service");
    expect(direct).toContain(
      'configuration error: POSTGRES_PASSWORD_FILE="/etc/rune/pg-password" is invalid: expected a readable file (EACCES)',
    );
    expect(direct).toMatch(/rune-direct\.service: Main process exited, code=exited, status=2/);
  }, 60_000);
});
