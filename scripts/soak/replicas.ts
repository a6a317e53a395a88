/**
 * The soak's replicas: the compiled binary's `run`, one process per replica at a time, each
 * incarnation logging to its own file. A replica is "running" once its /readyz has answered 200;
 * before that it is "starting". Every exit is classified: asked for (kill/term), a start-up exit
 * (expected only while a fault touched its links), or a violation (a running replica ended itself).
 */
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { baseEnv } from "../../test/support/binary.ts";
import type { Violation } from "./check.ts";

export type ReplicaState = "down" | "starting" | "running" | "stopping";

export interface Replica {
  readonly index: number;
  readonly state: ReplicaState;
  /** Spawns the next incarnation (a no-op unless down); cancels a pending restart. */
  start(): void;
  /** Starts again after `ms` unless started sooner. */
  restartAfter(ms: number): void;
  /** Sends `signal` and waits up to `timeoutMs` (then SIGKILL); resolves with the exit code. */
  stop(signal: "SIGKILL" | "SIGTERM", timeoutMs: number): Promise<number | null>;
  /** HTTP status of /readyz, 0 when nothing answers. */
  readyz(): Promise<number>;
}

export interface ReplicaOptions {
  readonly binary: string;
  readonly logDir: string;
  readonly env: (index: number) => Record<string, string>;
  readonly httpPort: (index: number) => number;
  /** Whether a link fault touched this replica's links between the two times. */
  readonly faultedBetween: (index: number, fromMs: number, toMs: number) => boolean;
  readonly violations: Violation[];
  /** Counters for the summary: "startup exit during a fault", "restarts", … */
  readonly tally: (what: string) => void;
  /** Delay before restarting a replica that ended by itself. */
  readonly restartDelayMs: number;
}

function tail(path: string, bytes = 1_500): string {
  try {
    const text = readFileSync(path, "utf8");
    return text.slice(-bytes).trim().split("\n").slice(-3).join("\n      ");
  } catch {
    return "(no log)";
  }
}

export function createReplica(index: number, options: ReplicaOptions): Replica {
  let state: ReplicaState = "down";
  let incarnation = 0;
  let proc: Bun.Subprocess | null = null;
  let spawnedAt = 0;
  let restartTimer: ReturnType<typeof setTimeout> | null = null;
  let readyTimer: ReturnType<typeof setInterval> | null = null;
  const url = `http://127.0.0.1:${options.httpPort(index)}/readyz`;

  const readyz = async () => {
    try {
      return (await fetch(url, { signal: AbortSignal.timeout(1_000) })).status;
    } catch {
      return 0;
    }
  };

  const onExit = (child: Bun.Subprocess, logPath: string, code: number | null) => {
    if (child !== proc) return;
    if (readyTimer) clearInterval(readyTimer);
    readyTimer = null;
    const was = state;
    proc = null;
    state = "down";
    if (was === "stopping") return;
    const now = Date.now();
    const what = `replica ${index} (incarnation ${incarnation}) exited with ${code ?? child.signalCode}`;
    if (was === "running") {
      options.violations.push({
        kind: "live replica exited",
        detail: `${what} while running; log ${logPath}:\n    ${tail(logPath)}`,
      });
    } else if (options.faultedBetween(index, spawnedAt, now)) {
      options.tally("start-up exit during a fault (expected)");
    } else {
      options.violations.push({
        kind: "start-up exit without a fault",
        detail: `${what} at start-up; log ${logPath}:\n    ${tail(logPath)}`,
      });
    }
    self.restartAfter(options.restartDelayMs);
  };

  const self: Replica = {
    index,
    get state() {
      return state;
    },
    start() {
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = null;
      if (state !== "down") return;
      incarnation += 1;
      if (incarnation > 1) options.tally("restarts");
      const logPath = join(options.logDir, `replica-${index}.${incarnation}.log`);
      const fd = openSync(logPath, "a");
      const child = Bun.spawn([options.binary, "run"], {
        env: baseEnv(options.env(index)),
        cwd: "/tmp",
        stdin: "ignore",
        stdout: fd,
        stderr: fd,
      });
      closeSync(fd);
      proc = child;
      state = "starting";
      spawnedAt = Date.now();
      void child.exited.then((code) => onExit(child, logPath, code));
      readyTimer = setInterval(async () => {
        if (
          state === "starting" &&
          proc === child &&
          (await readyz()) === 200 &&
          state === "starting" &&
          proc === child
        ) {
          state = "running";
          if (readyTimer) clearInterval(readyTimer);
          readyTimer = null;
        }
      }, 250);
    },
    restartAfter(ms) {
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = setTimeout(() => {
        restartTimer = null;
        self.start();
      }, ms);
    },
    async stop(signal, timeoutMs) {
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = null;
      const child = proc;
      if (!child) return null;
      state = "stopping";
      child.kill(signal);
      const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const code = await child.exited;
      clearTimeout(killer);
      return child.signalCode === "SIGKILL" && signal !== "SIGKILL" ? null : code;
    },
    readyz,
  };
  return self;
}
