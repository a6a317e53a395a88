import { defineCommand } from "citty";
import type { Config } from "../config.ts";
import { createDatabase } from "../db.ts";
import { explainDatabaseError } from "../diagnose.ts";
import { dueIndexes, RECOMMENDED_INDEX, rowCounts, schemaProblems, tableColumns, type RowCounts } from "../schema-check.ts";
import { configArgs, jsonArg, printReport, withConfig } from "./shared.ts";

export interface DatabaseReport {
  ok: boolean;
  where: string;
  error?: string;
  serverVersion?: string;
  problems: string[];
  warnings: string[];
  counts?: RowCounts;
}

/** Connects and checks everything `run` relies on in the database. Never throws. */
export async function checkDatabase(config: Config): Promise<DatabaseReport> {
  const report: DatabaseReport = { ok: false, where: config.db.where, problems: [], warnings: [] };
  const sql = createDatabase(config.db, { connectTimeoutMs: config.connectTimeoutMs, max: 1 });
  try {
    const [version] = await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`;
    report.serverVersion = version?.v;
    const found = {
      scheduled_workflows: await tableColumns(sql, "scheduled_workflows"),
      workflows: await tableColumns(sql, "workflows"),
    };
    report.problems = schemaProblems(found).map((p) => p.problem);
    if (report.problems.length === 0) {
      if ((await dueIndexes(sql)).length === 0) {
        report.warnings.push(`no index on scheduled_workflows (next_run_at); every poll scans the table. Create it: ${RECOMMENDED_INDEX}`);
      }
      report.counts = await rowCounts(sql);
      for (const [reason, count] of Object.entries(report.counts.invalid)) {
        if (count > 0) report.warnings.push(`${count} active schedule(s) are invalid (${reason}) and will not fire until fixed`);
      }
    }
    report.ok = report.problems.length === 0;
  } catch (error) {
    report.error = explainDatabaseError(error, config.db, config.connectTimeoutMs);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
  return report;
}

export function formatDatabaseReport(report: DatabaseReport): string {
  const lines: string[] = [];
  if (report.error) return `FAILED ${report.error}`;
  lines.push(`${report.ok ? "ok" : "FAILED"} PostgreSQL ${report.serverVersion ?? "?"} at ${report.where}`);
  for (const problem of report.problems) lines.push(`  error: ${problem}`);
  for (const warning of report.warnings) lines.push(`  warning: ${warning}`);
  if (report.counts) {
    const c = report.counts;
    lines.push(`  schedules: ${c.total} total, ${c.active} active, ${c.inactive} inactive, ${c.dueNow} due now`);
  }
  return lines.join("\n");
}

export default defineCommand({
  meta: { name: "check-db", description: "Check the PostgreSQL connection, tables, columns, index and invalid rows" },
  args: { ...jsonArg, ...configArgs },
  async run({ args }) {
    process.exitCode = await withConfig(args, async (config) => printReport(await checkDatabase(config), args.json, formatDatabaseReport));
  },
});
