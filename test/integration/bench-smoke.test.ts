/**
 * The benchmark (scripts/bench.ts) at its smoke size: it must keep working, write well-formed
 * JSON with every section (both publish ceilings, bursts from process start and from the first
 * message, replicas, start-up to the first message), and leave no database behind. The figures
 * themselves are not judged here: at this size they mean nothing (the real runs are
 * `bun run bench`, see docs/performance.md).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import postgres from "postgres";
import { requireBinary, runCommand } from "../support/binary.ts";
import { testScope } from "../support/scope.ts";
import { PG } from "../support/services.ts";

const ROOT = resolve(import.meta.dir, "../..");
const scope = testScope();

describe("bun run bench --smoke", () => {
  test("completes, writes JSON with every section and cleans up its databases", async () => {
    const out = join(scope.tempDir("rune-bench-smoke-"), "bench.json");
    const { code, stdout, stderr, pid } = await runCommand(
      [process.execPath, "scripts/bench.ts", "--smoke", "--binary", requireBinary(), "--out", out],
      { cwd: ROOT },
    );
    if (code !== 0) throw new Error(`bench exited ${code}\n${stdout}\n${stderr}`);

    const result = JSON.parse(readFileSync(out, "utf8"));
    expect(result.hardware.summary).toContain("vCPU");
    expect(result.settings.runs).toBe(1);
    const [run] = result.runs;
    const [burst] = run.burst;
    expect(burst).toMatchObject({ rows: 300, burst: { rows: 300, replicas: 1, duplicates: 0, perReplica: [300] } });
    expect(burst.publishCeiling.perSecond).toBeGreaterThan(0);
    expect(burst.publishCeiling.messageBytes).toBeGreaterThan(400);
    expect(burst.smallCeiling).toMatchObject({ count: 300, messageBytes: 240 });
    expect(burst.smallCeiling.perSecond).toBeGreaterThan(0);
    expect(burst.sqlCeiling.perSecond).toBeGreaterThan(0);
    for (const ceiling of [burst.publishCeiling, burst.smallCeiling, burst.sqlCeiling]) {
      expect(Object.keys(ceiling.cpu).sort()).toEqual([
        "brokerPercent",
        "brokerSeconds",
        "clientPercent",
        "clientSeconds",
        "machineBusyPercent",
        "postgresPercent",
        "postgresSeconds",
      ]);
    }
    // From process start includes the wait for the first message; from the first message does not.
    const b = burst.burst;
    expect(b.firstMessageMs).toBeGreaterThan(0);
    expect(b.fromStartSeconds * 1000).toBeCloseTo(b.firstMessageMs + b.fromFirstSeconds * 1000, 0);
    expect(b.fromFirstFiresPerSecond).toBeGreaterThan(b.fromStartFiresPerSecond);
    for (const cpu of ["schedulerCpuPercent", "brokerCpuPercent", "postgresCpuPercent", "machineBusyPercent"]) {
      expect(b[cpu], cpu).toBeGreaterThanOrEqual(0);
    }
    expect(run.replicas.map((r: { replicas: number }) => r.replicas)).toEqual([1, 2, 3]);
    for (const replica of run.replicas) {
      expect(replica).toMatchObject({ rows: 300, duplicates: 0 });
      expect(replica.perReplica).toHaveLength(replica.replicas);
      expect(replica.perReplica.reduce((a: number, c: number) => a + c, 0)).toBe(300);
      expect(replica.fromStartFiresPerSecond).toBeGreaterThan(0);
      expect(replica.fromFirstFiresPerSecond).toBeGreaterThan(0);
    }
    expect(
      run.cost.map((c: { rows: number; worker: boolean; cost: { history: boolean } }) => [
        c.rows,
        c.worker,
        c.cost.history,
      ]),
    ).toEqual([
      [300, false, false],
      [300, false, true],
      [300, true, false],
      [300, true, true],
    ]);
    for (const c of run.cost) {
      expect(c.cost).toMatchObject({ rows: 300 });
      for (const figure of ["schedulerUs", "postgresUs", "allocatedBytes", "collections"])
        expect(c.cost[figure], figure).toBeGreaterThanOrEqual(0);
      expect(c.publisherUs).toBeGreaterThan(0);
    }
    expect(result.costTable).toContain("| 300, worker consuming |");
    expect(result.costTable).toContain("| 300, worker consuming, **history on** |");
    expect(run.properties).toHaveLength(30); // 3 queue kinds × 10 property variants
    expect(result.costTable).toContain("| without traceparent |");
    expect(run.startup.rows).toBe(100);
    expect(run.startup.firstMessageMs).toHaveLength(1);
    expect(run.startup.firstMessageMs[0]).toBeGreaterThan(0);
    expect(run.precision.p99Ms).toBeGreaterThanOrEqual(run.precision.p50Ms);
    expect(run.idle.rssMedianMB).toBeGreaterThan(0);
    expect(run.idle.startupMs).toHaveLength(1);
    for (const state of ["withIndex", "withoutIndex"]) {
      for (const statement of ["poll", "claim", "claimOne", "record"]) {
        expect(run.pollCost[state][statement].executionMs).toBeGreaterThan(0);
      }
    }
    expect(run.pollCost.withIndex.claim.plan).toContain("scheduled_workflows_due_idx");

    const { summary } = result;
    for (const section of ["burst", "replicas", "precision", "idle", "ready", "firstMessage", "pollCost"]) {
      expect(summary[section], section).not.toBeNull();
    }
    expect(summary.burst[0].startToSmall.median).toBeGreaterThan(0);
    expect(summary.burst[0].firstToSame.median).toBeGreaterThan(0);
    expect(summary.replicas.map((r: { startToOne: { median: number } }) => r.startToOne.median > 0)).toEqual([
      true,
      true,
      true,
    ]);
    expect(summary.targets.map((t: { figure: string }) => t.figure)).toEqual([
      "burst 300, from the first message",
      "burst 300, from process start",
      "replicas 2 vs 1, from process start",
      "replicas 3 vs 1, from process start",
      "replicas: duplicates (all runs)",
      "precision p99",
      "precision max",
      "idle resident memory",
      "idle CPU",
      "startup to /readyz",
      "startup to the first message",
      "poll at 5,000 rows, index",
      "claim at 5,000 rows, index",
      "scheduler CPU per fire, 300, no consumer",
      "PostgreSQL CPU per fire, 300, no consumer",
      "history on: PostgreSQL CPU per fire vs off, 300, no consumer",
      "scheduler CPU per fire, 300, worker consuming",
      "PostgreSQL CPU per fire, 300, worker consuming",
      "history on: PostgreSQL CPU per fire vs off, 300, worker consuming",
    ]);
    for (const row of [
      "Burst: 300 rows already due, from process start",
      "Burst: 300 rows, from the first message",
      "Replicas: 1 ×",
      "Replicas: 2 ×",
      "Replicas: 3 ×",
      "Precision",
      "Idle",
      "Poll",
      "Claim",
      "Startup: spawn → /readyz",
      "Startup: spawn → first message",
    ]) {
      expect(result.table).toContain(`| ${row}`);
    }
    expect(result.table).toContain("publish, small messages");
    expect(result.cpuTable).toContain("| Burst of 300, 3 replicas, from process start |");
    expect(result.cpuTable).toContain("| Publish ceiling, small messages, 300 |");
    expect(stdout).toContain(result.table);
    expect(stdout).toContain(result.cpuTable);

    const root = postgres({ ...PG, database: "postgres", max: 1, onnotice: () => {} });
    const left = await root`SELECT datname FROM pg_database WHERE datname LIKE ${`rune_bench_${pid}_%`}`;
    await root.end();
    expect(left.map((row) => row.datname)).toEqual([]);
  }, 120_000);
});
