/**
 * `bun scripts/soak.ts --minutes N --replicas K --seed S [--rows R]`: the soak test
 * (docs/development.md; not run by CI). K replicas of the compiled binary run against a fresh database and queue, each
 * through its own PostgreSQL and RabbitMQ fault proxy, under a seeded random plan of SIGKILLs,
 * SIGTERMs, cuts, stalls, outages and rows made invalid and valid again; then the invariants are
 * checked and a summary printed. Exit 0 when every invariant held, 1 when one failed, 2 on bad usage.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Violation } from "./soak/check.ts";
import { Aborted, runSoak, type SoakResult, type SoakSettings } from "./soak/run.ts";

const HELP = `Usage: bun scripts/soak.ts --minutes N --replicas K [--seed S] [options]

  --minutes N      length of the fault phase (fractions allowed; default 1)
  --replicas K     scheduler processes (default 2)
  --seed S         seed of the fault plan and the rows (default: random, printed)
  --rows R         schedules, intervals 1-10 s (default 200)
  --poll S         SCHEDULER_POLL_INTERVAL of every replica, seconds (default 1)
  --binary PATH    the scheduler under test (default dist/rune-scheduler)
  --verbose        print every event as it happens
`;

function fail(message: string): never {
  process.stderr.write(`soak: ${message}\n\n${HELP}`);
  process.exit(2);
}

function parseSettings(argv: string[]): SoakSettings {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: "boolean", short: "h" },
      minutes: { type: "string" },
      replicas: { type: "string" },
      seed: { type: "string" },
      rows: { type: "string" },
      poll: { type: "string" },
      binary: { type: "string" },
      verbose: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const number = (name: string, raw: string | undefined, fallback: number, check: (n: number) => boolean) => {
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(value) || !check(value)) fail(`--${name} ${raw} is invalid`);
    return value;
  };
  const binary = resolve(values.binary ?? resolve(import.meta.dir, "../dist/rune-scheduler"));
  if (!existsSync(binary)) fail(`${binary} is missing: build it with \`bun scripts/build.ts\``);
  return {
    minutes: number("minutes", values.minutes, 1, (n) => n > 0 && n <= 24 * 60),
    replicas: number("replicas", values.replicas, 2, (n) => Number.isInteger(n) && n >= 1 && n <= 32),
    seed: number("seed", values.seed, Math.floor(Math.random() * 2 ** 31), (n) => Number.isInteger(n) && n >= 0),
    rows: number("rows", values.rows, 200, (n) => Number.isInteger(n) && n >= 1 && n <= 100_000),
    pollSeconds: number("poll", values.poll, 1, (n) => n > 0 && n <= 60),
    binary,
    verbose: values.verbose ?? false,
  };
}

function version(binary: string): string {
  const result = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000 });
  return (result.stdout ?? "").trim().split("\n")[0] || "unknown version";
}

const list = (map: Map<string, number>) =>
  [...map]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "none";

/** Up to `limit` violations, taken in turn from each kind, so one flood does not hide the rest. */
function firstOfEachKind(violations: readonly Violation[], limit: number): Violation[] {
  const groups = [...Map.groupBy(violations, (v) => v.kind).values()];
  const picked: Violation[] = [];
  for (let round = 0; picked.length < Math.min(limit, violations.length); round += 1) {
    for (const group of groups) if (group[round] && picked.length < limit) picked.push(group[round]!);
  }
  return picked;
}

function summary(result: SoakResult, binaryVersion: string): string {
  const { settings, check } = result;
  const eventsTotal = [...result.events.values()].reduce((a, b) => a + b, 0);
  const byKind = new Map<string, number>();
  for (const violation of check.violations) byKind.set(violation.kind, (byKind.get(violation.kind) ?? 0) + 1);
  const lines = [
    `soak summary`,
    `  duration:        ${(result.chaosMs / 60_000).toFixed(1)} min of faults, ${(result.totalMs / 1000).toFixed(0)} s in all`,
    `  seed:            ${settings.seed}`,
    `  replicas:        ${settings.replicas} (${binaryVersion}), rows ${settings.rows}, poll ${settings.pollSeconds}s`,
    `  events:          ${eventsTotal} (${result.skipped} skipped: target down, no row to pick, or soak late): ${list(result.events)}`,
    `  soak pauses:     longest ${(result.longestPauseMs / 1000).toFixed(1)} s${result.longestPauseMs > 5_000 ? " (the host froze or was overloaded: timings are suspect)" : ""}`,
    `  replica exits:   ${list(result.tally)}`,
    `  messages:        ${check.messages} received, ${check.distinctSlots} distinct slots`,
    `  duplicates:      ${check.duplicates} (${check.duplicatesNearFault} next to a kill/cut${check.duplicatesNearFault ? `: ${list(check.duplicatesByFault)}` : ""})`,
    `  missed counted:  ${check.missedCounted} slots in missed_runs`,
    `  slots checked:   ${check.slotsChecked} (${check.slotsExcluded} excluded: row held invalid by the soak)`,
    `  violations:      ${check.violations.length}${byKind.size ? ` (${list(byKind)})` : ""}`,
    ...firstOfEachKind(check.violations, 20).map((v) => `    - [${v.kind}] ${v.detail}`),
    ...(check.violations.length > 20 ? [`    … and ${check.violations.length - 20} more`] : []),
    `  result:          ${check.violations.length === 0 ? "PASS" : `FAIL (logs kept in ${result.logDir})`}`,
  ];
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<number> {
  const settings = parseSettings(Bun.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), `rune-soak-${settings.seed}-`));
  const controller = new AbortController();
  const interrupt = () => {
    process.stderr.write("soak: interrupted; cleaning up (again to force)\n");
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", interrupt);
  process.on("SIGTERM", interrupt);
  const binaryVersion = version(settings.binary);
  process.stdout.write(
    `soak: ${settings.minutes} min, ${settings.replicas} replicas, seed ${settings.seed}, ${settings.rows} rows; work dir ${work}\n`,
  );
  try {
    const result = await runSoak(settings, work, controller.signal);
    process.stdout.write(summary(result, binaryVersion));
    const passed = result.check.violations.length === 0;
    if (passed) rmSync(work, { recursive: true, force: true });
    return passed ? 0 : 1;
  } catch (error) {
    if (error instanceof Aborted) {
      process.stderr.write(`soak: aborted; logs in ${work}\n`);
      return 130;
    }
    process.stderr.write(`soak: ${(error as Error).stack ?? error}\nlogs in ${work}\n`);
    return 1;
  }
}

process.exit(await main());
