/** Runs the compiled binary as a user would: environment in, stdout/stderr/exit code out. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";

export const BINARY = resolve(import.meta.dir, "../../dist/rune-scheduler");

export function requireBinary(): string {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`npm run build\` (npm test builds it first)`);
  return BINARY;
}

/** A minimal environment: nothing from the developer's shell leaks into what the binary sees. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", SCHEDULER_HTTP_PORT: "0", ...extra };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The process id it ran as, which some commands put in the names of what they create. */
  pid: number;
}

/**
 * Runs `argv` to its end and reads both streams whole. `env` unset inherits this process's
 * environment; `timeoutMs` unset lets it run as long as it takes; `stdin` unset gives it none.
 */
export async function runCommand(
  argv: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; stdin?: string } = {},
): Promise<Finished> {
  const proc = Bun.spawn(argv, {
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? undefined : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr, pid: proc.pid };
}

/** The binary to its end as a user runs it: in /tmp, over `baseEnv(env)`, killed after 30 s by default. */
export function runBinary(
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<Finished> {
  return runCommand([requireBinary(), ...args], {
    env: baseEnv(env),
    cwd: options.cwd ?? "/tmp",
    timeoutMs: options.timeoutMs ?? 30_000,
  });
}

export interface Running {
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /**
   * The exit code, once the process has exited AND both streams are read to the end: after
   * `proc.exited` alone, its last lines may still be in the pipe, unseen by `output()`.
   */
  readonly exited: Promise<number>;
  output(): string;
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Gathers a child's stdout and stderr, interleaved as they arrive. */
export function collectOutput(proc: { stdout: ReadableStream<Uint8Array>; stderr: ReadableStream<Uint8Array> }) {
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const done = Promise.all([pump(proc.stdout), pump(proc.stderr)]);
  return { output: () => text, done };
}

/** Starts a long-running command (normally `run`) and collects both streams as they come. */
export function startBinary(args: string[], env: Record<string, string>, options: { cwd?: string } = {}): Running {
  const proc = Bun.spawn([requireBinary(), ...args], {
    env: baseEnv(env),
    cwd: options.cwd ?? "/tmp",
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const { output, done } = collectOutput(proc);
  const exited = Promise.all([proc.exited, done]).then(([code]) => code);
  // Killed by a signal, a process has a signalCode and no exitCode.
  const ended = () => proc.exitCode !== null || proc.signalCode !== null;
  const find = (pattern: RegExp) =>
    output()
      .split("\n")
      .find((candidate) => pattern.test(candidate));
  return {
    proc,
    exited,
    output,
    async waitForLine(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = find(pattern);
        if (line) return line;
        if (ended()) {
          // Its last lines may still be in the pipe: read them all before saying none matched.
          await Promise.race([exited, Bun.sleep(Math.max(0, deadline - Date.now()))]);
          const last = find(pattern);
          if (last) return last;
        }
        if (ended() || Date.now() > deadline) {
          throw new Error(
            `no line matching ${pattern} (exit ${proc.exitCode ?? proc.signalCode}); output so far:\n${output()}`,
          );
        }
        await Bun.sleep(20);
      }
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}
