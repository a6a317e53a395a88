/**
 * `bun run bench [options]`: the performance benchmark (docs/performance.md), against the local
 * PostgreSQL and RabbitMQ and the compiled binary. Prints a Markdown table of medians (each with its
 * ceiling measured in the same run, and the noise between runs) and writes every sample as JSON.
 * Each measurement makes its own database and queue and removes them, even when interrupted.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { renderCostTable, renderPropertyTable } from "./bench/cost-report.ts";
import { cleanupAll, describeHardware, leftovers, waitForServices } from "./bench/env.ts";
import { buildReport } from "./bench/report.ts";
import { DEFAULTS, type Run, runOnce, SECTIONS, type Section, type Settings, SMOKE } from "./bench/suite.ts";
import { renderCpuTable, renderTable } from "./bench/table.ts";

const HELP = `Usage: bun run bench [options]

  --smoke                 tiny sizes, one run (what CI runs; < 1 minute)
  --runs N                repetitions of every measurement; medians are quoted (default ${DEFAULTS.runs})
  --sections LIST         any of ${SECTIONS.join(",")} (default: all)
  --burst LIST            burst sizes, rows (default ${DEFAULTS.burstRows.join(",")})
  --cost LIST             cost-per-fire burst sizes, each with and without a worker (default ${DEFAULTS.costRows.join(",")})
  --property-messages N   messages per queue kind and property variant (default ${DEFAULTS.propertyMessages})
  --replicas LIST         scheduler counts for the replica burst (default ${DEFAULTS.replicas.join(",")})
  --replica-rows N        rows in the replica burst (default ${DEFAULTS.replicaRows})
  --precision-rows N      rows spread over the precision window (default ${DEFAULTS.precisionRows})
  --precision-seconds S   the precision window (default ${DEFAULTS.precisionSpreadMs / 1000})
  --idle-rows N           rows a day ahead while idle (default ${DEFAULTS.idleRows})
  --idle-seconds S        idle measurement window (default ${DEFAULTS.idleWindowMs / 1000})
  --startup-samples N     starts timed per run, to /readyz and to the first message (default ${DEFAULTS.startupSamples})
  --startup-rows N        rows already due when the first message is timed (default ${DEFAULTS.startupRows})
  --poll-rows N           table size for the poll/claim EXPLAIN ANALYZE (default ${DEFAULTS.pollRows})
  --poll-due N            rows due at the EXPLAIN (default ${DEFAULTS.pollDue}: one full claim)
  --payload-bytes N       size of each workflow_data document (default ${DEFAULTS.payloadBytes})
  --small-bytes N         body size of the small-message publish ceiling (default ${DEFAULTS.smallBodyBytes})
  --binary PATH           the scheduler under test (default dist/rune-scheduler)
  --out PATH              JSON results (default bench-results/bench-<time>.json)
`;

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    help: { type: "boolean", short: "h" },
    smoke: { type: "boolean" },
    runs: { type: "string" },
    sections: { type: "string" },
    burst: { type: "string" },
    cost: { type: "string" },
    "property-messages": { type: "string" },
    replicas: { type: "string" },
    "replica-rows": { type: "string" },
    "precision-rows": { type: "string" },
    "precision-seconds": { type: "string" },
    "idle-rows": { type: "string" },
    "idle-seconds": { type: "string" },
    "startup-samples": { type: "string" },
    "startup-rows": { type: "string" },
    "poll-rows": { type: "string" },
    "poll-due": { type: "string" },
    "payload-bytes": { type: "string" },
    "small-bytes": { type: "string" },
    binary: { type: "string" },
    out: { type: "string" },
  },
});

if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function count(flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.replaceAll("_", ""));
  if (!Number.isInteger(n) || n < min) fail(`--${flag} must be an integer ≥ ${min}, got "${value}"`);
  return n;
}

function list(flag: string, value: string | undefined): number[] | undefined {
  return value?.split(",").map((item) => count(flag, item.trim())!);
}

function settingsFromArgs(): Settings {
  const sections = values.sections?.split(",").map((s) => s.trim());
  for (const section of sections ?? [])
    if (!SECTIONS.includes(section as Section)) fail(`unknown section "${section}" (one of ${SECTIONS.join(", ")})`);
  const seconds = (flag: string, value: string | undefined) =>
    value === undefined ? undefined : count(flag, value)! * 1000;
  const given: Partial<Settings> = {
    runs: count("runs", values.runs),
    sections: sections as Section[] | undefined,
    burstRows: list("burst", values.burst),
    costRows: list("cost", values.cost),
    propertyMessages: count("property-messages", values["property-messages"]),
    replicas: list("replicas", values.replicas),
    replicaRows: count("replica-rows", values["replica-rows"]),
    precisionRows: count("precision-rows", values["precision-rows"]),
    precisionSpreadMs: seconds("precision-seconds", values["precision-seconds"]),
    idleRows: count("idle-rows", values["idle-rows"]),
    idleWindowMs: seconds("idle-seconds", values["idle-seconds"]),
    startupSamples: count("startup-samples", values["startup-samples"]),
    startupRows: count("startup-rows", values["startup-rows"]),
    pollRows: count("poll-rows", values["poll-rows"]),
    pollDue: count("poll-due", values["poll-due"]),
    payloadBytes: count("payload-bytes", values["payload-bytes"], 0),
    smallBodyBytes: count("small-bytes", values["small-bytes"]),
  };
  const explicit = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const binary = resolve(values.binary ?? resolve(import.meta.dir, "../dist/rune-scheduler"));
  if (!existsSync(binary)) fail(`${binary} is missing: build it first with \`bun run build\``);
  return { ...DEFAULTS, ...(values.smoke ? SMOKE : {}), ...explicit, binary };
}

const settings = settingsFromArgs();
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const out = resolve(values.out ?? `bench-results/bench-${stamp}.json`);

let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`bench: ${signal}: cleaning up databases, queues and schedulers\n`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);
const startedAt = new Date();
const version = (await Bun.$`${settings.binary} --version`.nothrow().quiet().text()).trim();
const hardware = await describeHardware();
progress(`${version} on ${hardware.summary}`);

const runs: Run[] = [];
try {
  for (let i = 1; i <= settings.runs; i++) {
    progress(`run ${i}/${settings.runs}`);
    runs.push(await runOnce(settings, i, progress));
  }
} catch (error) {
  process.stderr.write(`bench: failed: ${(error as Error).stack ?? error}\n`);
  await finalCleanup();
  process.exit(1);
}
await finalCleanup();

/** Removes every database, queue and scheduler; waits for a restarting service to remove the rest. */
async function finalCleanup(): Promise<void> {
  await cleanupAll();
  if (leftovers() === 0) return;
  await waitForServices(60_000).catch(() => {});
  await cleanupAll();
  if (leftovers() > 0)
    process.stderr.write(
      `bench: ${leftovers()} database(s) or queue(s) could not be removed (prefix rune_bench_${process.pid}_)\n`,
    );
}

const report = buildReport(runs);
const table = renderTable(report, runs.length);
const cpuTable = renderCpuTable(report);
const costTable = [renderCostTable(report.cost), renderPropertyTable(runs)].filter(Boolean).join("\n\n");
const command = `bun run bench${Bun.argv.length > 2 ? ` ${Bun.argv.slice(2).join(" ")}` : ""}`;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify(
    {
      command,
      scheduler: version,
      hardware,
      settings,
      startedAt,
      finishedAt: new Date(),
      summary: report,
      table,
      cpuTable,
      costTable,
      runs,
    },
    null,
    2,
  )}\n`,
);

process.stdout.write(
  `${command}\n${version}\nHardware: ${hardware.summary}\n\n${table}\n\n${cpuTable ? `${cpuTable}\n\n` : ""}${costTable ? `${costTable}\n\n` : ""}`,
);
const missed = report.targets.filter((t) => !t.met);
process.stdout.write(
  missed.length === 0
    ? "All targets met.\n"
    : `Targets missed: ${missed.map((t) => `${t.figure} = ${t.value} (target ${t.target})`).join("; ")}\n`,
);
process.stdout.write(`JSON: ${out}\n`);
