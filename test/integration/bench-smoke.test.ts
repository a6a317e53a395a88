/**
 * The benchmark (scripts/bench.ts) at its smoke size: it must keep working, write well-formed
 * JSON with every section, and leave no database behind. The figures themselves are not judged
 * here: at this size they mean nothing (the real runs are `bun run bench`, see README).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import postgres from "postgres";
import { requireBinary } from "../support/binary.ts";
import { PG } from "../support/services.ts";

const ROOT = resolve(import.meta.dir, "../..");
const dir = mkdtempSync(join(tmpdir(), "rune-bench-smoke-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bun run bench --smoke", () => {
  test(
    "completes, writes JSON with every section and cleans up its databases",
    async () => {
      const out = join(dir, "bench.json");
      const proc = Bun.spawn([process.execPath, "scripts/bench.ts", "--smoke", "--binary", requireBinary(), "--out", out], {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0) throw new Error(`bench exited ${code}\n${stdout}\n${stderr}`);

      const result = JSON.parse(readFileSync(out, "utf8"));
      expect(result.hardware.summary).toContain("vCPU");
      expect(result.settings.runs).toBe(1);
      const [run] = result.runs;
      expect(run.burst[0]).toMatchObject({ rows: 300, burst: { rows: 300, duplicates: 0 } });
      expect(run.burst[0].publishCeiling.perSecond).toBeGreaterThan(0);
      expect(run.burst[0].sqlCeiling.perSecond).toBeGreaterThan(0);
      expect(run.replicas.map((r: { replicas: number }) => r.replicas)).toEqual([1, 2, 3]);
      expect(run.replicas.every((r: { duplicates: number }) => r.duplicates === 0)).toBe(true);
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
      for (const section of ["burst", "replicas", "precision", "idle", "startup", "pollCost"]) {
        expect(summary[section], section).not.toBeNull();
      }
      expect(summary.targets.length).toBeGreaterThanOrEqual(9);
      for (const row of ["Burst", "Replicas", "Precision", "Idle", "Poll", "Claim", "Startup"]) expect(result.table).toContain(`| ${row}`);
      expect(stdout).toContain(result.table);

      const root = postgres({ ...PG, database: "postgres", max: 1, onnotice: () => {} });
      const left = await root`SELECT datname FROM pg_database WHERE datname LIKE ${`rune_bench_${proc.pid}_%`}`;
      await root.end();
      expect(left.map((row) => row.datname)).toEqual([]);
    },
    60_000,
  );
});
