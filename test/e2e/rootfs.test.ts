/**
 * The scratch image, proven without a container engine: scripts/rootfs.sh (the very script
 * Dockerfile.scratch runs) assembles the root filesystem into a temporary directory, and the
 * binary runs chrooted in it as the image's USER, with the image's ENV, ENTRYPOINT and CMD read
 * from Dockerfile.scratch, and only what a runtime adds to every container: /proc, a minimal
 * /dev, /etc/hosts and /etc/resolv.conf. No /tmp (Docker gives a scratch image none), and the
 * root is mounted read-only, as with `docker run --read-only`. Anything the binary needs beyond
 * the listed files makes these tests fail.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { collectOutput, requireBinary, runCommand } from "../support/binary.ts";
import { DOCKERFILE, IMAGE, instructions, stageChain, stages } from "../support/dockerfile.ts";
import { freePort } from "../support/ports.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, type TestQueue, waitFor } from "../support/services.ts";

const REPO = resolve(import.meta.dir, "../..");
// biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own ARG reference, verbatim
const BUILD_BASE = "oven/bun:${BUN_VERSION}";

/**
 * What runc does before it starts PID 1 of a scratch image, as root in private mount and PID
 * namespaces (everything is undone when PID 1 exits): read-only root, /proc, a tmpfs /dev with
 * the standard nodes, /etc/hosts and /etc/resolv.conf bind-mounted, then the USER via chroot.
 */
const RUNTIME = `
set -eu
root=$1 hosts=$2 resolv=$3 user=$4; shift 4
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,mode=755,size=64k tmpfs "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/zero" c 1 5
mknod -m 666 "$root/dev/full" c 1 7
mknod -m 666 "$root/dev/random" c 1 8
mknod -m 666 "$root/dev/urandom" c 1 9
mknod -m 666 "$root/dev/tty" c 5 0
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir "$root/dev/shm"
mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=16m shm "$root/dev/shm"
mount --bind "$hosts" "$root/etc/hosts"
mount --bind "$resolv" "$root/etc/resolv.conf"
exec chroot --userspec="$user" "$root" "$@"
`;

/** A name the container knows only from /etc/hosts (compose extra_hosts, Kubernetes hostAliases). */
const HOSTS_ONLY_NAME = "rune-db.internal";
/** A loopback address for a DNS server that knows no names, as a container's DNS would answer. */
const DNS_ADDRESS = "127.0.0.153";

const scope = sharedScope();
let work: string;
let root: string;
let manifest: string[];
let db: TestDatabase;
let queue: TestQueue;
let dns: { close(): void; queries: string[] };

interface Container {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  output(): string;
  /** The host PID of the container's PID 1: `unshare` itself ignores SIGTERM. */
  pid1(): number;
  /** Signals PID 1, whose end ends everything in its PID namespace. */
  kill(signal: NodeJS.Signals): void;
  /** Exit code and all output, once the container has ended. */
  finished(): Promise<{ code: number; output: string }>;
}

function container(args: string[], env: Record<string, string>): Container {
  const proc = Bun.spawn(
    [
      "unshare",
      "--mount",
      "--pid",
      "--fork",
      "--propagation",
      "private",
      "sh",
      "-c",
      RUNTIME,
      "runtime",
      root,
      join(work, "hosts"),
      join(work, "resolv.conf"),
      IMAGE.user,
      ...IMAGE.entrypoint,
      ...args,
    ],
    {
      // What Docker puts in the environment of a container of this image.
      env: {
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        HOSTNAME: "rune-test",
        HOME: "/nonexistent",
        ...IMAGE.env,
        ...env,
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const { output, done: pumped } = collectOutput(proc);
  const c: Container = {
    proc,
    output,
    pid1() {
      const children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8").trim().split(/\s+/);
      expect(children).toHaveLength(1);
      return Number(children[0]);
    },
    kill(signal) {
      if (proc.exitCode !== null) return;
      try {
        process.kill(c.pid1(), signal);
      } catch {
        proc.kill(signal); // PID 1 not started yet
      }
    },
    async finished() {
      const code = await proc.exited;
      await pumped;
      return { code, output: output() };
    },
  };
  scope.defer(() => c.kill("SIGKILL"));
  return c;
}

async function runToEnd(args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const c = container(args, env);
  const timer = setTimeout(() => c.kill("SIGKILL"), 30_000);
  const result = await c.finished();
  clearTimeout(timer);
  return result;
}

/** Answers every query NXDOMAIN: without /etc/hosts first, HOSTS_ONLY_NAME would not resolve. */
async function startNxdomainDns() {
  const queries: string[] = [];
  const socket = await Bun.udpSocket({
    hostname: DNS_ADDRESS,
    port: 53,
    socket: {
      data(sock, data, port, address) {
        const reply = Buffer.from(data);
        reply[2] = 0x80 | (data[2]! & 0x79); // a response to the same opcode, RD kept
        reply[3] = 0x83; // recursion available, NXDOMAIN
        reply.writeUInt32BE(0, 6); // no answers, no authority
        reply.writeUInt16BE(0, 10); // no additional records
        queries.push(Buffer.from(data.subarray(12)).toString("latin1"));
        sock.send(reply, port, address);
      },
    },
  });
  return { queries, close: () => socket.close() };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

beforeAll(async () => {
  work = scope.tempDir("rune-rootfs-");
  root = join(work, "root");
  const assembled = Bun.spawnSync(["bash", join(REPO, "scripts/rootfs.sh"), requireBinary(), root], { stderr: "pipe" });
  if (assembled.exitCode !== 0) throw new Error(`scripts/rootfs.sh failed: ${assembled.stderr.toString()}`);
  manifest = assembled.stdout.toString().trim().split("\n").sort();
  // Taken before the runtime's mount points below exist: the image itself holds only these.
  expect(filesUnder(root)).toEqual(manifest);
  // Mount points, as a runtime creates them in the container's root.
  mkdirSync(join(root, "proc"));
  mkdirSync(join(root, "dev"));
  writeFileSync(join(root, "etc/hosts"), "");
  writeFileSync(join(root, "etc/resolv.conf"), "");
  writeFileSync(join(work, "hosts"), `127.0.0.1\tlocalhost\n127.0.0.1\t${HOSTS_ONLY_NAME}\n`);
  writeFileSync(join(work, "resolv.conf"), `nameserver ${DNS_ADDRESS}\noptions timeout:1 attempts:1\n`);
  dns = await startNxdomainDns();
  scope.defer(() => dns.close());
  ({ db, queue } = await scope.setup({ consume: true }));
});

describe("Dockerfile.scratch", () => {
  test("builds with the Bun that package.json pins and ships only the root filesystem of scripts/rootfs.sh", () => {
    const all = instructions(DOCKERFILE);
    const bunVersion = all.find((i) => i.keyword === "ARG" && i.rest.startsWith("BUN_VERSION="))!.rest.split("=")[1];
    expect(bunVersion).toBe(pkg.devDependencies.bun);
    expect(stages(all).map((s) => `${s.base}${s.name ? ` AS ${s.name}` : ""}`)).toEqual([
      `${BUILD_BASE} AS build`,
      "scratch AS runtime",
      "runtime AS prebuilt",
      "runtime",
    ]);
    // Both targets are the runtime stage's settings over one root filesystem, and nothing else.
    const files = (chain: { keyword: string; rest: string }[]) =>
      chain.filter((i) => ["COPY", "ADD", "RUN"].includes(i.keyword)).map((i) => `${i.keyword} ${i.rest}`);
    expect(files(stageChain(all))).toEqual(["COPY --from=build /rootfs/ /"]);
    expect(files(stageChain(all, "prebuilt"))).toEqual(["COPY rootfs/ /"]);
    expect(
      all.some((i) => i.keyword === "RUN" && i.rest === "bash scripts/rootfs.sh /out/rune-scheduler /rootfs"),
    ).toBe(true);
    expect(all.find((i) => i.keyword === "ARG" && i.rest.startsWith("RUNE_VERSION="))!.rest).toBe(
      `RUNE_VERSION=${pkg.version}`,
    );
    expect(IMAGE).toMatchObject({
      user: "1000:1000",
      entrypoint: ["/rune-scheduler"],
      cmd: ["run"],
      healthcheck: ["/rune-scheduler", "healthcheck"],
      stopSignal: "SIGTERM",
    });
  });

  test("reaches no registry but its base images: no syntax directive, no package manager, no download", () => {
    // A `# syntax=` parser directive makes BuildKit pull a frontend image before anything else.
    expect(DOCKERFILE).not.toMatch(/^#\s*syntax\s*=/im);
    const all = instructions(DOCKERFILE);
    const names = stages(all).flatMap((s) => (s.name ? [s.name] : []));
    expect(
      stages(all)
        .filter((s) => !names.includes(s.base))
        .map((s) => s.base),
    ).toEqual([BUILD_BASE, "scratch"]);
    const runs = all.filter((i) => i.keyword === "RUN").map((i) => i.rest);
    expect(
      runs.filter((run) => /\b(apt-get|apt|apk|curl|wget|npm|npx|bunx|git)\b|bun (install|add|x)\b/.test(run)),
    ).toEqual([]);
    expect(all.filter((i) => i.keyword === "ADD")).toEqual([]);
  });

  test("takes node_modules as npm ci installed it, and fails the build without the postgres.js patch", () => {
    const all = instructions(DOCKERFILE);
    const check = all.findIndex(
      (i) => i.keyword === "RUN" && i.rest.includes("patch-package") && i.rest.includes("--error-on-fail"),
    );
    const modules = all.findIndex((i) => i.keyword === "COPY" && i.rest === "node_modules ./node_modules");
    const patches = all.findIndex((i) => i.keyword === "COPY" && i.rest === "patches ./patches");
    const compile = all.findIndex((i) => i.keyword === "RUN" && i.rest.startsWith("bun scripts/build.ts"));
    expect(modules).toBeGreaterThanOrEqual(0);
    expect(Math.max(modules, patches)).toBeLessThan(check);
    expect(check).toBeLessThan(compile);
    expect(pkg.scripts.postinstall).toContain("patch-package --error-on-fail");
  });
});

describe("the root filesystem", () => {
  test("holds the binary, its loader and libraries, passwd/group for 1000 and a CA bundle, all owned by root", () => {
    expect(manifest).toContain("rune-scheduler");
    expect(manifest).toContain("etc/ssl/certs/ca-certificates.crt");
    const libraries = manifest.filter((file) => /^lib(64|32)?\//.test(file));
    expect(libraries.some((file) => /\/ld-linux[^/]*\.so\.\d$/.test(file))).toBe(true);
    expect(libraries.some((file) => file.endsWith("/libc.so.6"))).toBe(true);
    expect(manifest.filter((file) => !libraries.includes(file)).sort()).toEqual([
      "etc/group",
      "etc/passwd",
      "etc/ssl/certs/ca-certificates.crt",
      "rune-scheduler",
    ]);
    expect(readFileSync(join(root, "etc/passwd"), "utf8")).toMatch(/^rune:x:1000:1000:/m);
    expect(readFileSync(join(root, "etc/group"), "utf8")).toMatch(/^rune:x:1000:/m);
    for (const file of manifest) {
      const st = statSync(join(root, file));
      expect({ file, uid: st.uid, writableByOthers: (st.mode & 0o022) !== 0 }).toEqual({
        file,
        uid: 0,
        writableByOthers: false,
      });
    }
  });
});

describe("the binary in it, as uid/gid 1000 on a read-only root", () => {
  test("reports its version and commit", async () => {
    const { code, output } = await runToEnd(["--version"]);
    expect(output.trim()).toMatch(
      new RegExp(`^${pkg.version.replaceAll(".", "\\.")} \\(commit [0-9a-f]{12}(-dirty)?\\)$`),
    );
    expect(code).toBe(0);
  });

  test("check-db reaches PostgreSQL by a name only /etc/hosts knows, though DNS says NXDOMAIN", async () => {
    const { code, output } = await runToEnd(["check-db"], { ...db.env, POSTGRES_HOST: HOSTS_ONLY_NAME });
    expect(output).toContain(`ok PostgreSQL`);
    expect(output).toContain(`@${HOSTS_ONLY_NAME}:5432/${db.name}`);
    expect(code).toBe(0);
  });

  test("check-db names the host when DNS does not know it", async () => {
    const { code, output } = await runToEnd(["check-db"], { ...db.env, POSTGRES_HOST: "nowhere.invalid" });
    expect(output).toContain("nowhere.invalid");
    expect(code).toBe(1);
    expect(dns.queries.some((q) => q.includes("nowhere"))).toBe(true);
  });

  test("check-mq reaches RabbitMQ and finds the queue", async () => {
    const { code, output } = await runToEnd(["check-mq"], queue.env);
    expect(output).toContain("ok RabbitMQ");
    expect(code).toBe(0);
  });

  test("run, as PID 1 with the image's CMD, publishes a due row, passes its HEALTHCHECK and stops cleanly on SIGTERM", async () => {
    const [id] = await insertSchedules(db.sql, [{ dueInMs: -1_000, intervalSeconds: 3600, name: "in-a-container" }]);
    const port = await freePort();
    const c = container(IMAGE.cmd, {
      ...db.env,
      ...queue.env,
      SCHEDULER_HTTP_PORT: String(port),
      SCHEDULER_POLL_INTERVAL: "1",
    });
    const message = await waitFor("the message published from inside the root filesystem", () =>
      queue.messages.find((m) => m.body.schedule_id === id),
    );
    expect(message.body).toMatchObject({
      schedule_id: id,
      workflow_name: "in-a-container",
      trigger_source: "scheduler",
      run_number: 1,
    });
    // SCHEDULER_HTTP_HOST=0.0.0.0 from the image: reachable from outside the container.
    const health = await waitFor(
      "/healthz",
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200,
    );
    expect(health).toBe(true);
    // The image's HEALTHCHECK, as `docker exec` runs it: in the container's namespaces and root,
    // as its user, with its environment (there is no shell to run anything else).
    const probe = await runCommand(
      [
        "nsenter",
        `--target=${c.pid1()}`,
        "--mount",
        "--pid",
        "--root",
        "--wd",
        `--setuid=${IMAGE.user.split(":")[0]}`,
        `--setgid=${IMAGE.user.split(":")[1]}`,
        ...IMAGE.healthcheck,
      ],
      { env: { PATH: "/usr/bin:/bin", ...IMAGE.env, SCHEDULER_HTTP_PORT: String(port) } },
    );
    expect({ probeOut: probe.stdout, probeErr: probe.stderr, probeCode: probe.code }).toEqual({
      probeOut: expect.stringMatching(/^healthy/),
      probeErr: "",
      probeCode: 0,
    });

    c.kill("SIGTERM");
    const { code, output } = await c.finished();
    expect(output).toContain("SIGTERM received");
    expect(code).toBe(0);
    const [row] = await db.sql<{ run_count: number }[]>`SELECT run_count FROM scheduled_workflows WHERE id = ${id!}`;
    expect(row!.run_count).toBe(1);
  });
});

describe("time zones in the root filesystem, which has no zoneinfo", () => {
  test("run computes cron times in Asia/Kathmandu (+05:45) and Australia/Lord_Howe (30-minute DST) from the runtime's own zone data", async () => {
    expect(manifest.some((file) => file.includes("zoneinfo"))).toBe(false);
    const rows: Record<string, number> = {};
    for (const [zone, expression] of [
      ["Asia/Kathmandu", "0 9 * * *"],
      ["Australia/Lord_Howe", "30 2 * * *"],
    ] as const) {
      const [workflow] = await db.sql<
        { id: number }[]
      >`INSERT INTO workflows (name, workflow_data) VALUES (${zone}, '{}') RETURNING id`;
      const [row] = await db.sql<{ id: number }[]>`
        INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds, cron_expression, timezone)
        VALUES (${workflow!.id}, now() AT TIME ZONE 'UTC' - interval '1 second', NULL, ${expression}, ${zone}) RETURNING id`;
      rows[zone] = row!.id;
    }
    const c = container(IMAGE.cmd, { ...db.env, ...queue.env, SCHEDULER_HTTP_PORT: "0", SCHEDULER_POLL_INTERVAL: "1" });
    const next = await waitFor("both cron rows fired and moved on", async () => {
      const found = await db.sql<{ id: number; next_ms: number; run_count: number }[]>`
        SELECT id, (extract(epoch FROM next_run_at) * 1000)::float8 AS next_ms, run_count FROM scheduled_workflows
         WHERE id IN ${db.sql(Object.values(rows))}`;
      return found.every((r) => r.run_count === 1) ? new Map(found.map((r) => [r.id, r.next_ms])) : null;
    });
    c.kill("SIGTERM");
    expect((await c.finished()).code).toBe(0);
    const local = (zone: string, ms: number) =>
      new Intl.DateTimeFormat("en-GB", {
        timeZone: zone,
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      }).format(ms);
    const kathmandu = next.get(rows["Asia/Kathmandu"]!)!;
    expect(new Date(kathmandu).toISOString()).toMatch(/T03:15:00\.000Z$/);
    expect(local("Asia/Kathmandu", kathmandu)).toBe("09:00:00");
    expect(kathmandu - Date.now()).toBeLessThanOrEqual(86_400_000);
    const lordHowe = next.get(rows["Australia/Lord_Howe"]!)!;
    // 02:30 there is 15:30Z (UTC+11, summer) or 16:00Z (UTC+10:30, winter), by the date.
    expect(new Date(lordHowe).toISOString()).toMatch(/T(15:30|16:00):00\.000Z$/);
    expect(local("Australia/Lord_Howe", lordHowe)).toBe("02:30:00");
    expect(lordHowe - Date.now()).toBeLessThanOrEqual(86_400_000);
  });
});
