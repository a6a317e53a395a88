/**
 * The compiled scheduler as a child process (environment per docs/configuration.md, HTTP server on a free
 * port for /readyz and /stats), and what /proc says about it and the machine.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { nowMs, PG, register } from "./env.ts";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Scheduler {
  readonly pid: number;
  readonly port: number;
  /** Local time just before the spawn. */
  readonly spawnedAt: number;
  /** Resolves with the local time /readyz first answered 200. */
  ready(timeoutMs?: number): Promise<number>;
  output(): string;
  /** Whether the process is still running (a scheduler that exited during a measurement fails it). */
  running(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts the compiled scheduler against one database and queue, with the HTTP server on a free
 * port. `onOutput` sees every chunk of its stdout and stderr as it comes.
 */
export async function startScheduler(
  binary: string,
  db: string,
  queue: string,
  extraEnv: Record<string, string> = {},
  onOutput?: (chunk: string) => void,
): Promise<Scheduler> {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: "/tmp",
    POSTGRES_HOST: PG.host,
    POSTGRES_DB: db,
    RABBITMQ_HOST: "127.0.0.1",
    RABBITMQ_QUEUE: queue,
    SCHEDULER_HTTP_HOST: "127.0.0.1",
    SCHEDULER_HTTP_PORT: String(port),
    ...extraEnv,
  };
  const spawnedAt = nowMs();
  const proc = Bun.spawn([binary, "run"], { env, cwd: "/tmp", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const decoded = decoder.decode(chunk, { stream: true });
      onOutput?.(decoded);
      text = (text + decoded).slice(-20_000);
    }
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const stop = register(async () => {
    if (proc.exitCode !== null) return;
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
    await proc.exited;
    clearTimeout(killer);
  });
  return {
    pid: proc.pid,
    port,
    spawnedAt,
    output: () => text,
    running: () => proc.exitCode === null && proc.signalCode === null,
    stop,
    async ready(timeoutMs = 15_000) {
      const deadline = spawnedAt + timeoutMs;
      for (;;) {
        const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.status,
          () => 0,
        );
        if (status === 200) return nowMs();
        if (proc.exitCode !== null || nowMs() > deadline) {
          throw new Error(
            `scheduler not ready (exit ${proc.exitCode}, last status ${status}); output:\n${text.slice(-3_000)}`,
          );
        }
        await Bun.sleep(5);
      }
    },
  };
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/**
 * Resident memory (with its anonymous part: heap and stacks; the rest is mapped file pages, mostly
 * the executable's code, shared and reclaimable) and CPU time of a process, from /proc.
 */
export function processSample(pid: number): {
  rssBytes: number;
  anonBytes: number;
  cpuSeconds: number;
  /** Of `cpuSeconds`, the time in the kernel (system calls: socket reads and writes). */
  systemSeconds: number;
} {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  // Fields after the ")" that closes the command name: utime is 14th and stime 15th overall.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return {
    rssBytes: kb("VmRSS") * 1024,
    anonBytes: kb("RssAnon") * 1024,
    cpuSeconds: ticks / CLOCK_TICKS,
    systemSeconds: Number(fields[12]) / CLOCK_TICKS,
  };
}

/**
 * CPU time, in seconds, of every process whose command is one of `commands` (e.g. "beam.smp" for
 * RabbitMQ, "postgres" for PostgreSQL and its backends), summed per command. Processes that exit
 * between two samples take their CPU time with them, so a difference is a slight undercount; on a
 * shared machine it also counts the other clients' PostgreSQL backends.
 */
export function cpuByCommand(commands: readonly string[]): Record<string, number> {
  const totals: Record<string, number> = Object.fromEntries(commands.map((c) => [c, 0]));
  for (const { command, cpuSeconds } of processCpu()) if (command in totals) totals[command]! += cpuSeconds;
  return totals;
}

/** CPU time, in seconds, of every process whose command is `command`, by pid. */
export function cpuByPid(command: string): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const p of processCpu()) if (p.command === command) byPid.set(p.pid, p.cpuSeconds);
  return byPid;
}

/** Every process now: its pid, command (as /proc/<pid>/stat names it) and CPU seconds so far. */
function* processCpu(): Generator<{ pid: number; command: string; cpuSeconds: number }> {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    yield { pid: Number(entry), command, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS };
  }
}

/**
 * CPU seconds of `command` processes between two {@link cpuByPid} samples, over the processes
 * present in both: one that started or ended in between (a `rabbitmqctl`, which is also a
 * beam.smp) is left out rather than counted from zero or subtracted whole.
 */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let seconds = 0;
  for (const [pid, end] of after) {
    const start = before.get(pid);
    if (start !== undefined) seconds += end - start;
  }
  return seconds;
}

/** Busy and total CPU time of the whole machine (all cores), from /proc/stat, in seconds. */
export function machineSample(): { busySeconds: number; totalSeconds: number } {
  const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/);
  const ticks = fields.map(Number);
  const idle = ticks[3]! + ticks[4]!; // idle + iowait
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busySeconds: (total - idle) / CLOCK_TICKS, totalSeconds: total / CLOCK_TICKS };
}
