/**
 * One soak run: set up the world and the replicas, play the seeded plan of faults for the chaos
 * phase, then end every fault, let the system settle, stop every replica with SIGTERM and judge
 * the invariants. Everything made here is undone in `finally`, also when `signal` aborts (Ctrl-C).
 */
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../test/support/ports.ts";
import { type CheckResult, checkInvariants, type FaultWindow, type Violation } from "./check.ts";
import { describe, type Fault, label, mulberry32, planEvents } from "./plan.ts";
import { createReplica, type Replica } from "./replicas.ts";
import { createWorld, type World } from "./world.ts";

export interface SoakSettings {
  readonly minutes: number;
  readonly replicas: number;
  readonly seed: number;
  readonly rows: number;
  readonly pollSeconds: number;
  readonly binary: string;
  readonly verbose: boolean;
}

export interface SoakResult {
  readonly settings: SoakSettings;
  readonly chaosMs: number;
  readonly totalMs: number;
  readonly events: Map<string, number>;
  readonly skipped: number;
  readonly tally: Map<string, number>;
  readonly check: CheckResult;
  readonly logDir: string;
  /** The soak process's longest pause (event loop blocked or host frozen), ms. */
  readonly longestPauseMs: number;
}

/** Duplicates within this long after a kill or a link fault ends are "next to" it. */
const DUPLICATE_WINDOW_MS = 30_000;

export class Aborted extends Error {}

/** Runs the soak in `work` (a fresh directory for the binary's copy and every replica's log). */
export async function runSoak(settings: SoakSettings, work: string, signal: AbortSignal): Promise<SoakResult> {
  const startedAt = Date.now();
  const cleanups: (() => Promise<unknown>)[] = [async () => rmSync(join(work, "rune-scheduler"), { force: true })];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const replicas: Replica[] = [];
  const pending = new Set<Promise<unknown>>();
  const violations: Violation[] = [];
  const kills: FaultWindow[] = [];
  const events = new Map<string, number>();
  const tally = new Map<string, number>();
  const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const log = (line: string) => settings.verbose && process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  let chaosOver = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(new Aborted());
      const timer = setTimeout(done, ms);
      function done() {
        signal.removeEventListener("abort", done);
        clearTimeout(timer);
        signal.aborted ? reject(new Aborted()) : resolve();
      }
      signal.addEventListener("abort", done);
    });
  const waitUntil = async (what: string, condition: () => Promise<boolean> | boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) {
        violations.push({
          kind: "did not settle",
          detail: `${what} within ${timeoutMs / 1000}s after the faults ended`,
        });
        return false;
      }
      await sleep(250);
    }
    return true;
  };
  const later = (ms: number, action: () => unknown) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      track(Promise.resolve().then(action));
    }, ms);
    timers.add(timer);
  };
  const track = (promise: Promise<unknown>) => {
    const guarded = promise.catch((error) => violations.push({ kind: "soak error", detail: String(error) }));
    pending.add(guarded);
    void guarded.finally(() => pending.delete(guarded));
  };

  // The soak's own pauses (an overloaded or suspended host): they explain odd timings in a summary.
  let lastBeat = Date.now();
  let longestPauseMs = 0;
  const heartbeat = setInterval(() => {
    longestPauseMs = Math.max(longestPauseMs, Date.now() - lastBeat - 500);
    lastBeat = Date.now();
  }, 500);
  try {
    const binary = join(work, "rune-scheduler");
    // A private copy: a rebuild of dist/ during the run must not change what restarts run.
    copyFileSync(settings.binary, binary);
    const ports = await Promise.all(Array.from({ length: settings.replicas }, () => freePort()));
    const world: World = await createWorld(settings.replicas, ports, settings.pollSeconds, cleanups);
    const rng = mulberry32(settings.seed);
    const initial = await world.insertRows(settings.rows, rng);
    const plan = planEvents(rng, { durationMs: settings.minutes * 60_000, replicas: settings.replicas });
    for (let index = 0; index < settings.replicas; index += 1) {
      replicas.push(
        createReplica(index, {
          binary,
          logDir: work,
          env: world.envFor,
          httpPort: (i) => ports[i]!,
          faultedBetween: (i, from, to) =>
            world.linkFaults.some((f) => f.replicas.includes(i) && f.startMs <= to && f.endMs >= from),
          violations,
          tally: (what) => count(tally, what),
          restartDelayMs: 5_000,
        }),
      );
    }
    cleanups.push(async () => Promise.all(replicas.map((replica) => replica.stop("SIGKILL", 2_000))));
    for (const replica of replicas) replica.start();
    const up = await waitUntil(
      "every replica ready at start",
      () => replicas.every((r) => r.state === "running"),
      60_000,
    );
    if (!up) throw new Error(`replicas did not become ready; logs in ${work}`);

    const execute = async (fault: Fault): Promise<boolean> => {
      if (fault.kind === "kill" || fault.kind === "term") {
        const replica = replicas[fault.replica]!;
        if (
          fault.kind === "kill"
            ? replica.state !== "running" && replica.state !== "starting"
            : replica.state !== "running"
        )
          return false;
        if (fault.kind === "kill") kills.push({ kind: "kill", startMs: Date.now(), endMs: Date.now() });
        track(
          replica.stop(fault.kind === "kill" ? "SIGKILL" : "SIGTERM", 15_000).then((code) => {
            if (fault.kind === "term" && code !== 0)
              violations.push({ kind: "SIGTERM not exit 0", detail: `replica ${fault.replica}: exit ${code}` });
            if (!chaosOver) replica.restartAfter(fault.restartAfterMs);
          }),
        );
      } else if (fault.kind === "cut") world.cut(fault.service, fault.target);
      else if (fault.kind === "stall" || fault.kind === "outage") {
        const handle = world.begin(fault.kind, fault.service, fault.target);
        later(fault.durationMs, () => handle.end());
      } else {
        const ids = await world.invalidate(fault.how, fault.picks).catch((error) => {
          log(`invalidate skipped: ${(error as Error).message}`);
          return [];
        });
        if (ids.length === 0) return false;
        later(fault.durationMs, () => world.restore(ids));
      }
      return true;
    };

    const chaosStart = Date.now();
    let skipped = 0;
    for (const event of plan) {
      await sleep(Math.max(0, chaosStart + event.atMs - Date.now()));
      // A soak that was itself frozen (an overloaded host) must not fire its backlog in one burst.
      const late = Date.now() - (chaosStart + event.atMs) > 10_000;
      if (!late && (await execute(event.fault))) {
        count(events, label(event.fault));
        log(describe(event.fault));
      } else skipped += 1;
    }
    await sleep(Math.max(0, chaosStart + settings.minutes * 60_000 - Date.now()));
    const chaosMs = Date.now() - chaosStart;

    // ORDER: no timer may re-break anything once settling starts, so clear them before ending faults.
    chaosOver = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    await Promise.all(pending);
    world.endAllFaults();
    await world.restoreAll();
    log("faults ended; settling");
    await waitUntil(
      "every replica ready",
      async () => {
        for (const replica of replicas) if (replica.state === "down") replica.start();
        return replicas.every((r) => r.state === "running");
      },
      120_000,
    );
    await waitUntil(
      "no valid row overdue",
      async () => (await world.overdue(2 * settings.pollSeconds + 1)) === 0,
      60_000,
    );
    await sleep(2 * settings.pollSeconds * 1000);
    const codes = await Promise.all(replicas.map((replica) => replica.stop("SIGTERM", 20_000)));
    for (const [index, code] of codes.entries()) {
      if (code !== 0) violations.push({ kind: "final SIGTERM not exit 0", detail: `replica ${index}: exit ${code}` });
    }
    if (!(await world.drained(1_500, 30_000)))
      violations.push({ kind: "did not settle", detail: "the queue did not drain within 30s" });
    if (world.consumerLostAt !== null) {
      violations.push({
        kind: "soak consumer lost",
        detail: `its connection closed at ${new Date(world.consumerLostAt).toISOString()}: the record of messages is incomplete`,
      });
    }

    const input = {
      initial,
      final: await world.finalRows(),
      messages: world.received(),
      exclusions: world.exclusions,
      faults: [...kills, ...world.linkFaults],
      duplicateWindowMs: DUPLICATE_WINDOW_MS,
    };
    // Everything the checks saw, for a post-mortem (kept with the logs when the run fails).
    writeFileSync(join(work, "run.json"), JSON.stringify({ settings, plan, ...input }));
    const check = checkInvariants(input);
    check.violations.unshift(...violations);
    return {
      settings,
      chaosMs,
      totalMs: Date.now() - startedAt,
      events,
      skipped,
      tally,
      check,
      logDir: work,
      longestPauseMs,
    };
  } finally {
    clearInterval(heartbeat);
    chaosOver = true;
    for (const timer of timers) clearTimeout(timer);
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error) => process.stderr.write(`soak: cleanup failed: ${(error as Error).message}\n`));
    }
  }
}
