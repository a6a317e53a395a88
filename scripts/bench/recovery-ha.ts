/**
 * Recovery times on the HA rig's real servers (scripts/ha/rig.sh; never the shared services):
 * one replica fires 100 schedules every second while the rig's worker consumes; each fault of
 * scripts/ha/faults.ts is made `--runs` times for `--fault` seconds, and the time from its end
 * to the first delivery is printed, with the median, as a markdown table. The rig is brought up
 * from nothing and taken down at the end.
 *
 *   bun scripts/bench/recovery-ha.ts [--binary dist/rune-scheduler] [--runs 3] [--fault 10]
 *
 * Needs root, Debian's postgresql-15 and rabbitmq-server (scripts/ha/README.md).
 */
import { parseArgs } from "node:util";
import { fillPrimary, memoryAlarm, primary, readOnly, rig, rigEnv, startCluster, stopCluster } from "../ha/faults.ts";
import { brokerUrls, consume, Ledger } from "../ha/worker.ts";

const { values } = parseArgs({
  options: {
    binary: { type: "string", default: "dist/rune-scheduler" },
    runs: { type: "string", default: "3" },
    fault: { type: "string", default: "10" },
  },
});
const runs = Number(values.runs);
const faultMs = Number(values.fault) * 1000;
const HTTP_PORT = 56202;

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | null | Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

const ready = async () =>
  (await fetch(`http://127.0.0.1:${HTTP_PORT}/readyz`, { signal: AbortSignal.timeout(1_000) }).catch(() => null))
    ?.status === 200;

await rig("down");
await rig("up");
await rig("seed", "100");
const env = await rigEnv();
const admin = primary();
const ledger = new Ledger();
const replica = Bun.spawn([values.binary!, "run"], {
  env: {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: "/tmp",
    DATABASE_URL: env.DATABASE_URL!,
    RABBITMQ_URL: env.RABBITMQ_URL!,
    RABBITMQ_QUEUE_TYPE: "quorum",
    SCHEDULER_POLL_INTERVAL: "1",
    SCHEDULER_CONNECT_TIMEOUT: "2",
    SCHEDULER_MAX_RETRIES: "0",
    SCHEDULER_HTTP_PORT: String(HTTP_PORT),
  },
  stdout: "pipe",
  stderr: "ignore",
});
/** The replica's log, for the moment it heard connection.unblocked. */
let output = "";
void (async () => {
  const decoder = new TextDecoder();
  for await (const chunk of replica.stdout) output += decoder.decode(chunk);
})();
/** When the replica logged its latest `RabbitMQ unblocked` line, or null. */
function unblockedAt(): number | null {
  const lines = output.match(/^\S+ INFO RabbitMQ unblocked after[^\n]*/gm);
  const last = lines?.at(-1);
  return last ? Date.parse(last.slice(0, last.indexOf(" "))) : null;
}
const worker = consume(brokerUrls(env.RABBITMQ_URL!), "workflow_queue", ledger, () => {});

/** Ready and delivering: each run starts from a steady state. */
async function steady(): Promise<void> {
  await waitFor("ready", 120_000, ready);
  const now = Date.now();
  await waitFor("deliveries", 60_000, () => ledger.firstArrivalAfter(now + 1_000));
}

/** Each fault: make it, hold it, end it; returns when it ended (or when its end took effect). */
const FAULTS: Record<string, () => Promise<number>> = {
  "RabbitMQ memory alarm (cluster-wide), from connection.unblocked": async () => {
    const before = unblockedAt();
    await memoryAlarm(true);
    await Bun.sleep(faultMs); // the fault's length
    await memoryAlarm(false);
    const cleared = Date.now();
    // rabbitmqctl takes about a second to start, so the alarm clears somewhere while it runs:
    // measured from the replica's own line for connection.unblocked. A build that logs no such
    // line (it never noticed the block) is measured from the command's return.
    const heard = await waitFor("the unblock", 5_000, () => {
      const at = unblockedAt();
      return at !== null && at !== before ? at : null;
    }).catch(() => null);
    return heard ?? cleared;
  },
  "PostgreSQL primary read-only": async () => {
    await readOnly(admin, true);
    await Bun.sleep(faultMs); // the fault's length
    await readOnly(admin, false);
    return Date.now();
  },
  "PostgreSQL primary full, our backends terminated": async () => {
    const release = await fillPrimary(admin);
    await Bun.sleep(faultMs); // the fault's length
    await release();
    return Date.now();
  },
  "whole RabbitMQ cluster stopped (from its quorum back)": async () => {
    await stopCluster();
    await Bun.sleep(faultMs); // the fault's length
    return startCluster();
  },
};

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

try {
  await steady();
  console.log(
    `binary ${values.binary}, ${runs} run(s) per fault, each ${faultMs / 1000} s, one replica, 100 schedules every second`,
  );
  console.log("| fault | first delivery after it ended: median (min–max) |");
  console.log("|---|---|");
  for (const [name, make] of Object.entries(FAULTS)) {
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const endedAt = await make();
      const at = await waitFor("a delivery after the fault", 120_000, () => ledger.firstArrivalAfter(endedAt));
      samples.push((at - endedAt) / 1000);
      process.stderr.write(`${name} run ${i + 1}: ${samples.at(-1)!.toFixed(2)} s\n`);
      await steady();
    }
    console.log(
      `| ${name}, ${faultMs / 1000} s | ${median(samples).toFixed(2)} s (${Math.min(...samples).toFixed(2)}–${Math.max(...samples).toFixed(2)}) |`,
    );
  }
} finally {
  replica.kill("SIGKILL");
  await worker.stop();
  await admin.end({ timeout: 1 });
  await rig("down");
}
process.exit(0);
