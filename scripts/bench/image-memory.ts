/**
 * The smallest memory limit the image runs under from a cold page cache (as after a node
 * reboot: the binary's pages are read from disk and charged to the container), measured:
 *
 *   bun scripts/bench/image-memory.ts [--rows 5000] [--limits 160,128,112,96,88,80,72,64,56,48] [--samples 1]
 *                                     [--binary dist/rune-scheduler] [--env KEY=VALUE …]
 *
 * Builds the image with podman (scripts/podman/image.ts), measures the warm reference (no limit,
 * the image's files in the page cache), then for each limit, largest first: drops the page cache
 * of the image's files (per file, POSIX_FADV_DONTNEED through `dd iflag=nocache`, so the rest of
 * the machine keeps its cache), starts the image locked down with `--memory` and `--memory-swap`
 * at the limit against ROWS already-due schedules, and requires that every row is published
 * within twice the warm time, that three `podman healthcheck run`s (the first during the burst)
 * pass within the HEALTHCHECK's 5 s timeout, and that `podman stop` ends in exit 0. The floor
 * is the smallest limit that passes with every larger one passing too. Needs root and podman
 * (scripts/test-deps.sh), like the image tests; cgroup v1 or v2.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildImage, podman, podmanOk, requirePodman } from "../podman/image.ts";
import { dbNowMs, insertSchedulesAt, insertWorkflows } from "./data.ts";
import { cleanupAll, createDatabase, createQueue, nowMs } from "./env.ts";
import { freePort } from "./process.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    rows: { type: "string", default: "5000" },
    limits: { type: "string", default: "160,128,112,96,88,80,72,64,56,48" },
    samples: { type: "string", default: "1" },
    binary: { type: "string", default: "dist/rune-scheduler" },
    /**
     * `exec`: the image's HEALTHCHECK through `podman healthcheck run` (Docker, Compose, podman);
     * `http`: GET /healthz from the host, as Kubernetes' httpGet probes do (no second process).
     */
    probe: { type: "string", default: "exec" },
    /** KEY=VALUE for the container's environment, to compare settings; repeatable. */
    env: { type: "string", multiple: true, default: [] },
  },
});
const ROWS = Number(values.rows);
const LIMITS = values.limits!.split(",").map(Number);
const SAMPLES = Number(values.samples);
/** The image's HEALTHCHECK --timeout. */
const HEALTH_TIMEOUT_MS = 5_000;
/** How long a trial may take to publish before it is given up (it has failed long before). */
const GIVE_UP_MS = 40_000;
const LOCKED_DOWN = ["--network=host", "--read-only", "--read-only-tmpfs=false", "--cap-drop=ALL"];

interface Trial {
  limitMb: number | null;
  publishedMs: number | null;
  published: number;
  health: { ok: boolean; ms: number }[];
  peakMb: number;
  /** CPU seconds of the container from its start to the end of the health checks. */
  cpuSeconds: number;
  exitCode: string;
}

/** The files of the image's only layer, whose page cache a cold start must read back. */
async function imageFiles(tag: string): Promise<string[]> {
  const dir = await podmanOk(["image", "inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", tag]);
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

function dropCache(files: string[]): void {
  for (const file of files) {
    const dd = Bun.spawnSync(["dd", `if=${file}`, "iflag=nocache", "count=0", "status=none"]);
    if (dd.exitCode !== 0) throw new Error(`dd could not drop the page cache of ${file}: ${dd.stderr}`);
  }
}

/** The container's cgroup directory of `controller` (v1), or its one directory (v2). */
function cgroupDir(pid: number, controller: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const v1 = lines.find((line) => line.split(":")[1]!.split(",").includes(controller));
  if (v1) return `/sys/fs/cgroup/${controller}${v1.split(":")[2]}`;
  return `/sys/fs/cgroup${lines.find((line) => line.startsWith("0::"))!.slice(3)}`;
}

function cpuSeconds(dir: string): number {
  try {
    return Number(readFileSync(join(dir, "cpuacct.usage"), "utf8")) / 1e9;
  } catch {
    const usec = readFileSync(join(dir, "cpu.stat"), "utf8").match(/^usage_usec (\d+)/m);
    return usec ? Number(usec[1]) / 1e6 : Number.NaN;
  }
}

function peakBytes(dir: string): number {
  for (const file of ["memory.max_usage_in_bytes", "memory.peak"]) {
    try {
      return Number(readFileSync(join(dir, file), "utf8").trim());
    } catch {}
  }
  return Number.NaN;
}

async function healthcheck(name: string, port: number): Promise<{ ok: boolean; ms: number }> {
  const started = nowMs();
  const ok =
    values.probe === "http"
      ? await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) })
          .then((answer) => answer.status === 200)
          .catch(() => false)
      : (await podman(["healthcheck", "run", name], 30_000)).code === 0;
  const ms = nowMs() - started;
  return { ok: ok && ms <= HEALTH_TIMEOUT_MS, ms };
}

async function trial(tag: string, files: string[], limitMb: number | null, cold: boolean): Promise<Trial> {
  const db = await createDatabase("rune_bench_image");
  const queue = await createQueue("rune_bench_image");
  const name = `rune-bench-image-${process.pid}`;
  try {
    await insertWorkflows(db.sql, ROWS, 200);
    await insertSchedulesAt(db.sql, ROWS, Math.floor((await dbNowMs(db.sql)) - 1_000));
    await db.sql`ANALYZE`;
    const port = await freePort();
    if (cold) dropCache(files);
    const limit = limitMb === null ? [] : [`--memory=${limitMb}m`, `--memory-swap=${limitMb}m`];
    const started = nowMs();
    await podmanOk([
      "run",
      "--detach",
      `--name=${name}`,
      ...LOCKED_DOWN,
      ...limit,
      `--env=POSTGRES_HOST=127.0.0.1`,
      `--env=POSTGRES_USER=postgres`,
      `--env=POSTGRES_DB=${db.name}`,
      `--env=RABBITMQ_HOST=127.0.0.1`,
      `--env=RABBITMQ_QUEUE=${queue.name}`,
      `--env=SCHEDULER_HTTP_PORT=${port}`,
      ...values.env!.map((pair) => `--env=${pair}`),
      tag,
    ]);
    const pid = Number(await podmanOk(["inspect", "--format", "{{.State.Pid}}", name]));
    const cgroup = cgroupDir(pid, "memory");
    const cpu = cgroupDir(pid, "cpuacct");
    const health: { ok: boolean; ms: number }[] = [];
    // The first check as soon as /healthz answers, which is while the burst is published.
    const firstCheck = (async () => {
      while (nowMs() - started < GIVE_UP_MS) {
        const up = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) })
          .then(() => true)
          .catch(() => false);
        if (up) return health.push(await healthcheck(name, port));
        await Bun.sleep(20);
      }
      health.push({ ok: false, ms: Number.NaN });
    })();
    let published = 0;
    let publishedMs: number | null = null;
    while (nowMs() - started < GIVE_UP_MS) {
      published = await queue.depth();
      if (published >= ROWS) {
        publishedMs = nowMs() - started;
        break;
      }
      await Bun.sleep(20);
    }
    await firstCheck;
    health.push(await healthcheck(name, port));
    health.push(await healthcheck(name, port));
    const peakMb = peakBytes(cgroup) / 2 ** 20;
    const cpuUsed = cpuSeconds(cpu);
    await podman(["stop", "--time=15", name], 60_000);
    const exitCode = await podmanOk(["inspect", "--format", "{{.State.ExitCode}}", name]);
    return { limitMb, publishedMs, published, health, peakMb, cpuSeconds: cpuUsed, exitCode };
  } finally {
    await podman(["rm", "--force", "--time=0", name]);
    await db.drop();
    await queue.drop();
  }
}

function line(t: Trial, warmMs: number): string {
  const pass =
    t.publishedMs !== null && t.publishedMs <= 2 * warmMs && t.health.every((h) => h.ok) && t.exitCode === "0";
  const limit = t.limitMb === null ? "none" : `${t.limitMb} MB`;
  const burst =
    t.publishedMs === null ? `${t.published}/${ROWS} in ${GIVE_UP_MS / 1000} s` : `${Math.round(t.publishedMs)} ms`;
  const checks = t.health.map((h) => `${h.ok ? "ok" : "FAIL"} ${Math.round(h.ms)} ms`).join(", ");
  return `| ${limit} | ${burst} | ${checks} | ${t.peakMb.toFixed(1)} MB | ${t.cpuSeconds.toFixed(2)} s | ${t.exitCode} | ${pass ? "pass" : "FAIL"} |`;
}

const passes = (t: Trial, warmMs: number) =>
  t.publishedMs !== null && t.publishedMs <= 2 * warmMs && t.health.every((h) => h.ok) && t.exitCode === "0";

try {
  await requirePodman();
  const binary = resolve(values.binary!);
  const tag = `localhost/rune-scheduler-bench:${process.pid}`;
  const work = `/tmp/rune-bench-image-${process.pid}`;
  await buildImage(binary, work, tag);
  try {
    const files = await imageFiles(tag);
    const mb = files.reduce((sum, file) => sum + statSync(file).size, 0) / 2 ** 20;
    console.log(`image ${tag}: ${files.length} files, ${mb.toFixed(1)} MB; ${ROWS} due rows per trial`);
    await trial(tag, files, null, false); // warms the page cache and the services
    // The reference is the median of three: one burst on a shared machine can be 3× another.
    const warm: Trial[] = [];
    for (let i = 0; i < 3; i++) warm.push(await trial(tag, files, null, false));
    const warmMs = warm.map((t) => t.publishedMs!).sort((a, b) => a - b)[1]!;
    console.log("| limit | all published after start | health checks | peak usage | CPU | exit | verdict |");
    console.log("|---|---|---|---|---|---|---|");
    for (const t of warm) console.log(`${line(t, warmMs)} (warm)`);
    console.log(`${line(await trial(tag, files, null, true), warmMs)} (cold, no limit)`);
    let floor: number | null = null;
    for (const limit of LIMITS) {
      let ok = true;
      for (let i = 0; i < SAMPLES; i++) {
        const t = await trial(tag, files, limit, true);
        console.log(line(t, warmMs));
        ok &&= passes(t, warmMs);
      }
      if (!ok) break;
      floor = limit;
    }
    console.log(
      `cold floor: ${floor === null ? `above ${LIMITS[0]} MB` : `${floor} MB`} (warm burst ${Math.round(warmMs)} ms)`,
    );
  } finally {
    await podman(["rmi", "--force", tag]);
    Bun.spawnSync(["rm", "-rf", work]);
  }
} finally {
  await cleanupAll();
}
