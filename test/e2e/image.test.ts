/**
 * The image, built and run by a real container engine: Debian's podman (installed by
 * scripts/test-deps.sh, configured by scripts/podman/containers.conf) builds the `prebuilt`
 * target of Dockerfile.scratch (the shipped image's settings over scripts/rootfs.sh's root
 * filesystem of the binary compiled here) and runs it locked down as an operator should: host
 * networking against the shared services, a read-only root with no tmpfs, no capabilities, no
 * new privileges. A machine where podman is missing or cannot run fails every test here.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { buildImage, podman, podmanOk, requirePodman } from "../../scripts/podman/image.ts";
import { requireBinary } from "../support/binary.ts";
import { IMAGE } from "../support/dockerfile.ts";
import { freePort } from "../support/ports.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, type TestQueue, waitFor } from "../support/services.ts";

/** More than SCHEDULER_SHUTDOWN_TIMEOUT (10 s), as docs/install.md tells `docker stop -t`. */
const GRACE_SECONDS = 15;
/** How install.md runs it: nothing writable (podman's --read-only alone adds tmpfs on /tmp, /run, /var/tmp). */
const LOCKED_DOWN = [
  "--network=host",
  "--read-only",
  "--read-only-tmpfs=false",
  "--cap-drop=ALL",
  "--security-opt=no-new-privileges",
];

const scope = sharedScope();
const tag = `localhost/rune-scheduler-test:${process.pid}`;
let db: TestDatabase;
let queue: TestQueue;

const envFlags = (env: Record<string, string>) => Object.entries(env).map(([key, value]) => `--env=${key}=${value}`);
const inspect = (name: string, format: string) => podmanOk(["inspect", "--format", format, name]);

/** `/proc/PID/status` of a process as a map of its fields. */
function status(pid: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const at = line.indexOf(":");
    if (at > 0)
      fields[line.slice(0, at)] = line
        .slice(at + 1)
        .trim()
        .replace(/\s+/g, " ");
  }
  return fields;
}

/** The memory limit of the cgroup a process is in (v1 or v2). */
function memoryLimitBytes(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const v1 = lines.find((line) => line.split(":")[1]!.split(",").includes("memory"));
  const file = v1
    ? `/sys/fs/cgroup/memory${v1.split(":")[2]}/memory.limit_in_bytes`
    : `/sys/fs/cgroup${lines.find((line) => line.startsWith("0::"))!.slice(3)}/memory.max`;
  return Number(readFileSync(file, "utf8"));
}

beforeAll(async () => {
  await requirePodman();
  const work = scope.tempDir("rune-image-");
  scope.defer(() => podman(["rmi", "--force", tag]));
  await buildImage(requireBinary(), join(work, "context"), tag, "0123456789ab");
  ({ db, queue } = await scope.setup({ consume: true }));
});

describe("the image podman builds from Dockerfile.scratch", () => {
  test("carries the Dockerfile's user, entrypoint, command, HEALTHCHECK, stop signal and environment", async () => {
    // podman's image inspect keeps the docker format's health check beside the OCI config.
    const config = JSON.parse(await podmanOk(["image", "inspect", "--format", "{{json .Config}}", tag]));
    const health = JSON.parse(await podmanOk(["image", "inspect", "--format", "{{json .HealthCheck}}", tag]));
    expect({
      user: config.User,
      entrypoint: config.Entrypoint,
      cmd: config.Cmd,
      healthcheck: health?.Test,
      stopSignal: config.StopSignal,
      version: config.Labels["org.opencontainers.image.version"],
      revision: config.Labels["org.opencontainers.image.revision"],
    }).toEqual({
      user: "1000:1000",
      entrypoint: IMAGE.entrypoint,
      cmd: IMAGE.cmd,
      healthcheck: ["CMD", ...IMAGE.healthcheck],
      stopSignal: IMAGE.stopSignal,
      version: pkg.version,
      revision: "0123456789ab",
    });
    for (const [key, value] of Object.entries(IMAGE.env)) expect(config.Env).toContain(`${key}=${value}`);
  });

  test("runs check-db and check-mq as the container's command", async () => {
    for (const [verb, env, ok] of [
      ["check-db", db.env, "ok PostgreSQL"],
      ["check-mq", queue.env, "ok RabbitMQ"],
    ] as const) {
      // Named and removed at the end too: `--rm` alone leaves the container behind when podman is killed at the timeout.
      const name = `rune-image-${verb}-${process.pid}`;
      scope.defer(() => podman(["rm", "--force", "--time=0", name]));
      const ran = await podman(["run", "--rm", `--name=${name}`, ...LOCKED_DOWN, ...envFlags(env), tag, verb], 60_000);
      expect({ verb, code: ran.code, ok: ran.stdout.includes(ok) }).toEqual({ verb, code: 0, ok: true });
    }
  });
});

describe("run in the image, locked down", () => {
  test("runs as 1000:1000 and PID 1 with no capabilities under a memory limit, publishes a due row, turns healthy, writes nothing and stops with exit 0 on SIGTERM", async () => {
    const [id] = await insertSchedules(db.sql, [{ dueInMs: -1_000, intervalSeconds: 3600, name: "in-podman" }]);
    const port = await freePort();
    const name = `rune-image-test-${process.pid}`;
    scope.defer(() => podman(["rm", "--force", "--time=0", name]));
    const started = performance.now();
    await podmanOk([
      "run",
      "--detach",
      `--name=${name}`,
      ...LOCKED_DOWN,
      // The limit of scripts/deploy/compose.yaml, no swap (docs/install.md, "Memory limit").
      "--memory=128m",
      "--memory-swap=128m",
      ...envFlags({ ...db.env, ...queue.env, SCHEDULER_HTTP_PORT: String(port), SCHEDULER_POLL_INTERVAL: "1" }),
      tag,
    ]);

    const pid = Number(await inspect(name, "{{.State.Pid}}"));
    const proc = status(pid);
    expect({
      uid: proc.Uid,
      gid: proc.Gid,
      pidInContainer: proc.NSpid!.split(" ").at(-1),
      effective: proc.CapEff,
      permitted: proc.CapPrm,
      bounding: proc.CapBnd,
      noNewPrivileges: proc.NoNewPrivs,
    }).toEqual({
      uid: "1000 1000 1000 1000",
      gid: "1000 1000 1000 1000",
      pidInContainer: "1",
      effective: "0000000000000000",
      permitted: "0000000000000000",
      bounding: "0000000000000000",
      noNewPrivileges: "1",
    });

    expect(memoryLimitBytes(pid)).toBe(128 * 2 ** 20);

    const message = await waitFor("the message published from the container", () =>
      queue.messages.find((m) => m.body.schedule_id === id),
    );
    expect(message.body).toMatchObject({ schedule_id: id, workflow_name: "in-podman", run_number: 1 });

    // The image's HEALTHCHECK, run by the engine (podman schedules it only through systemd
    // timers, which this host has not: `podman healthcheck run` is one scheduled check).
    await waitFor(
      "podman healthcheck run to pass",
      async () => (await podman(["healthcheck", "run", name])).code === 0,
    );
    const healthyAfterMs = performance.now() - started;
    expect(await inspect(name, "{{.State.Health.Status}}")).toBe("healthy");
    const log = JSON.parse(await inspect(name, "{{json .State.Health.Log}}")) as { Output: string }[];
    expect(log.at(-1)!.Output).toMatch(/^healthy/);
    console.log(`image test: healthy ${Math.round(healthyAfterMs)} ms after podman run`);

    // Nothing writable by uid 1000 but what every container gets: the root and every file the runtime binds
    // in are read-only, there is no tmpfs, and the shared-memory and message-queue mounts
    // every container gets stay empty.
    const mounts = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
      .trim()
      .split("\n")
      .map((line) => {
        const [left, right] = line.split(" - ");
        const fields = left!.split(" ");
        return { point: fields[4]!, options: fields[5]!.split(","), type: right!.split(" ")[0]! };
      });
    const writable = mounts
      .filter((m) => m.options.includes("rw") && !["proc", "sysfs", "cgroup", "devpts"].includes(m.type))
      .filter((m) => !["/proc/keys", "/proc/timer_list", "/sys/fs/cgroup"].includes(m.point)) // masked by the runtime
      .map((m) => m.point)
      .sort();
    expect(writable).toEqual(["/dev", "/dev/mqueue", "/dev/shm"]);
    expect(mounts.find((m) => m.point === "/")!.options).toContain("ro");
    const root = `/proc/${pid}/root`;
    expect({ shm: readdirSync(`${root}/dev/shm`), mqueue: readdirSync(`${root}/dev/mqueue`) }).toEqual({
      shm: [],
      mqueue: [],
    });
    const dev = statSync(`${root}/dev`);
    expect({ owner: dev.uid, writableByOthers: (dev.mode & 0o022) !== 0 }).toEqual({
      owner: 0,
      writableByOthers: false,
    });

    const stopping = performance.now();
    await podmanOk(["stop", `--time=${GRACE_SECONDS}`, name], (GRACE_SECONDS + 15) * 1000);
    const stoppedMs = performance.now() - stopping;
    expect({
      exitCode: await inspect(name, "{{.State.ExitCode}}"),
      withinGrace: stoppedMs < GRACE_SECONDS * 1000,
    }).toEqual({ exitCode: "0", withinGrace: true });
    const logs = await podman(["logs", name]);
    expect(logs.stdout + logs.stderr).toContain("SIGTERM received");
    const [row] = await db.sql<{ run_count: number }[]>`SELECT run_count FROM scheduled_workflows WHERE id = ${id!}`;
    expect(row!.run_count).toBe(1);
  });
});
