/**
 * Recovery times, measured precisely (docs/high-availability.md, docs/design.md §18): for each
 * fault, made through the project's fault proxy (test/support/proxy.ts) so the shared services
 * are never touched, the time from the end of the fault to the first message in the queue, and
 * the connection attempts a second while it lasted. One schedule every second is due all
 * through. Several runs per fault; the medians are printed as a markdown table.
 *
 *   bun scripts/bench/recovery.ts [--binary dist/rune-scheduler] [--runs 5] [--outage 20] [--only PostgreSQL]
 *
 * `--binary` another build (an older one, for a before/after table).
 */
import { parseArgs } from "node:util";
import { connectionFrame } from "../../test/support/amqp-frames.ts";
import { baseEnv } from "../../test/support/binary.ts";
import { freePort } from "../../test/support/ports.ts";
import { type FaultProxy, startProxy } from "../../test/support/proxy.ts";
import { createTestDatabase, createTestQueue, insertSchedules, MQ, PG, waitFor } from "../../test/support/services.ts";

const { values } = parseArgs({
  options: {
    binary: { type: "string", default: "dist/rune-scheduler" },
    runs: { type: "string", default: "5" },
    outage: { type: "string", default: "20" },
    /** Only the faults whose name contains this (e.g. "PostgreSQL"). */
    only: { type: "string", default: "" },
  },
});
const binary = values.binary!;
const runs = Number(values.runs);
const outageMs = Number(values.outage) * 1000;

type Fault = "RabbitMQ refused" | "PostgreSQL refused" | "RabbitMQ blocked (connection.blocked)";
const FAULTS: Fault[] = ["RabbitMQ refused", "PostgreSQL refused", "RabbitMQ blocked (connection.blocked)"];

interface Sample {
  readonly firstFireMs: number;
  readonly attemptsPerSecond: number;
}

async function once(fault: Fault): Promise<Sample> {
  const db = await createTestDatabase();
  const queue = await createTestQueue();
  const pgProxy = await startProxy(PG);
  const mqProxy = await startProxy(MQ);
  const httpPort = await freePort();
  const proc = Bun.spawn([binary, "run"], {
    env: baseEnv({
      ...db.env,
      ...queue.env,
      POSTGRES_PORT: String(pgProxy.port),
      RABBITMQ_PORT: String(mqProxy.port),
      SCHEDULER_HTTP_PORT: String(httpPort),
      SCHEDULER_POLL_INTERVAL: "1",
      SCHEDULER_CONNECT_TIMEOUT: "3",
      SCHEDULER_MAX_RETRIES: "0",
      // A long block through a stalled proxy would outlast the default heartbeat.
      RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${mqProxy.port}/?heartbeat=${Math.ceil(outageMs / 1000) * 3}`,
    }),
    stdout: "ignore",
    stderr: "ignore",
  });
  try {
    await queue.consume();
    await waitFor(
      "ready",
      async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null))?.status === 200,
      15_000,
    );
    await insertSchedules(db.sql, [{ dueInMs: -100, intervalSeconds: 1 }]);
    await waitFor("the first fire", () => queue.messages.length > 0, 10_000);
    const proxy: FaultProxy = fault === "PostgreSQL refused" ? pgProxy : mqProxy;
    const acceptedBefore = proxy.acceptedConnections;
    if (fault === "RabbitMQ blocked (connection.blocked)") {
      // Frames are injected at a frame boundary: the link is idle between fires.
      mqProxy.stall();
      mqProxy.inject(connectionFrame(60, "low on memory"));
    } else {
      proxy.refuse();
      proxy.reset();
    }
    await Bun.sleep(outageMs); // the outage itself
    const attempts = proxy.acceptedConnections - acceptedBefore;
    const before = queue.messages.length;
    const endedAt = Date.now();
    if (fault === "RabbitMQ blocked (connection.blocked)") {
      mqProxy.inject(connectionFrame(61));
      mqProxy.resume();
    } else proxy.resume();
    await waitFor("a fire after the fault", () => queue.messages.length > before, 60_000, 5);
    return {
      firstFireMs: queue.messages[before]!.receivedAt - endedAt,
      attemptsPerSecond: (attempts * 1000) / outageMs,
    };
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
    await pgProxy.close();
    await mqProxy.close();
    await queue.drop();
    await db.drop();
  }
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

console.log(`binary ${binary}, ${runs} run(s) per fault, outage ${outageMs / 1000} s, one schedule due every second`);
console.log(
  "| fault | first fire after it ended: median (min–max) | connection attempts a second while it lasted (median) |",
);
console.log("|---|---|---|");
for (const fault of FAULTS.filter((name) => name.includes(values.only!))) {
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const sample = await once(fault);
    samples.push(sample);
    process.stderr.write(
      `${fault} run ${i + 1}: ${(sample.firstFireMs / 1000).toFixed(2)} s, ${sample.attemptsPerSecond.toFixed(2)}/s\n`,
    );
  }
  const fires = samples.map((s) => s.firstFireMs / 1000);
  console.log(
    `| ${fault} ${outageMs / 1000} s | ${median(fires).toFixed(2)} s (${Math.min(...fires).toFixed(2)}–${Math.max(...fires).toFixed(2)}) | ${median(samples.map((s) => s.attemptsPerSecond)).toFixed(2)} |`,
  );
}
process.exit(0);
