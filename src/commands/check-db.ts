import { defineCommand } from "citty";
import type { Config } from "../config/config.ts";
import { type DatabaseHost, formatHost } from "../config/database-hosts.ts";
import { explainDatabaseError } from "../observe/diagnose.ts";
import { openDatabase } from "../parts.ts";
import { SESSION_LIMITS } from "../postgres/client.ts";
import { findInvalid, type InvalidCronRow, type InvalidRowDetail, invalidCronRows } from "../postgres/invalid-rows.ts";
import { cronColumns, presentPolicyColumns } from "../postgres/optional-columns.ts";
import {
  CRON_MIGRATION,
  dueIndexes,
  hostRole,
  presentColumns,
  RECOMMENDED_INDEX,
  type RowCounts,
  rowCounts,
  type ScheduleKind,
  scheduleKinds,
  schemaProblems,
  serverVersion,
  tableColumns,
  unlimitedSessionSettings,
} from "../postgres/schema-check.ts";
import { describeTls, tlsOfHosts, tlsRegistry } from "../tls/registry.ts";
import type { TlsState } from "../tls/state.ts";
import { connectArgs, dbArgs, jsonArg, logArgs, printReport, withConfig } from "./shared.ts";

interface DatabaseReport {
  ok: boolean;
  where: string;
  error?: string;
  serverVersion?: string;
  problems: string[];
  warnings: string[];
  counts?: RowCounts;
  /** Active rows that will not fire, every kind, lowest id first (at most {@link INVALID_LISTED}). */
  invalid?: InvalidRowDetail[];
  /** The optional cron columns (docs/contract.md §2), the commonest schedule kinds, and cron rows that cannot fire. */
  schedules?: {
    columns: { cronExpression: boolean; timezone: boolean };
    /** The per-schedule policy columns present (docs/contract.md §11); absent when none. */
    policyColumns?: string[];
    kinds: ScheduleKind[];
    invalidCron: InvalidCronRow[];
  };
  /** With several hosts: each one on its own, so an operator sees which is the primary. */
  hosts?: HostReport[];
  /** The TLS each host that answered negotiated (src/tls/state.ts). */
  tls?: ({ host: string } & TlsState)[];
}

/** Invalid rows in `--json`; the text names the first {@link SHOWN}. */
const INVALID_LISTED = 1000;
const SHOWN = 10;

interface HostReport {
  where: string;
  ok: boolean;
  /** pg_is_in_recovery(): a standby is replaying, a primary accepts writes; down: no session. */
  role: "primary" | "standby" | "down";
  /** transaction_read_only of a new session there (a primary may also be set read-only). */
  readOnly?: boolean;
  error?: string;
}

/** Connects to one host alone (no target_session_attrs) and asks what it is. Never throws. */
async function probeHost(config: Config, host: DatabaseHost): Promise<HostReport> {
  // One line per host: where the host list came from belongs to the summary, not to each line.
  const db = { ...config.db, ...host, hosts: [host], targetSessionAttrs: null, origin: undefined };
  const sql = openDatabase(config, { db, max: 1, applicationName: "rune-scheduler check-db" });
  try {
    const state = await hostRole(sql);
    return {
      where: formatHost(host),
      ok: true,
      role: state.standby ? "standby" : "primary",
      readOnly: state.readOnly,
    };
  } catch (error) {
    return {
      where: formatHost(host),
      ok: false,
      role: "down",
      error: explainDatabaseError(error, db, config.connectTimeoutMs),
    };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** The SESSION_LIMITS values a direct connection sets (client.ts), as ALTER ROLE takes them. */
const ROLE_LIMITS: Record<string, string> = {
  statement_timeout: `${SESSION_LIMITS.statementTimeoutMs / 1000}s`,
  idle_in_transaction_session_timeout: `${SESSION_LIMITS.idleInTransactionTimeoutMs / 1000}s`,
};

function poolerLimitsWarning(config: Config, unlimited: readonly string[]): string {
  const role = /^[a-z_][a-z0-9_]*$/.test(config.db.user) ? config.db.user : `"${config.db.user.replaceAll('"', '""')}"`;
  return (
    `through a pooler (POSTGRES_POOLER=${config.db.pooler}), statements outside the scheduler's transactions (polls, stats, the console's reads) run with ${unlimited.map((name) => `${name}=0`).join(" and ")}, i.e. no limit; ` +
    `give the role its own: ${unlimited.map((name) => `ALTER ROLE ${role} SET ${name} = '${ROLE_LIMITS[name]}';`).join(" ")}`
  );
}

/** Connects and checks everything `run` relies on in the database. Never throws. */
async function checkDatabase(config: Config): Promise<DatabaseReport> {
  const report: DatabaseReport = { ok: false, where: config.db.where, problems: [], warnings: [] };
  const probes =
    config.db.hosts.length > 1 ? Promise.all(config.db.hosts.map((host) => probeHost(config, host))) : null;
  // The checks themselves go where `run` would: the first host that fits target_session_attrs.
  const sql = openDatabase(config, { max: 1 });
  try {
    report.serverVersion = await serverVersion(sql);
    report.tls = tlsOfHosts(tlsRegistry, "postgresql", config.db.hosts.map(formatHost)).map(({ host, state }) => ({
      host,
      ...state,
    }));
    report.warnings.push(...config.db.tls.warnings);
    if (config.db.pooler !== "none") {
      const unlimited = await unlimitedSessionSettings(sql);
      if (unlimited.length > 0) report.warnings.push(poolerLimitsWarning(config, unlimited));
    }
    const found = {
      scheduled_workflows: await tableColumns(sql, "scheduled_workflows"),
      workflows: await tableColumns(sql, "workflows"),
    };
    report.problems = schemaProblems(found).map((p) => p.problem);
    if (report.problems.length === 0) {
      if ((await dueIndexes(sql)).length === 0) {
        report.warnings.push(
          `no index on scheduled_workflows (next_run_at); every poll scans the table. Create it: ${RECOMMENDED_INDEX}`,
        );
      }
      const columns = presentColumns(found.scheduled_workflows);
      const invalid = await findInvalid(sql, INVALID_LISTED, columns);
      const invalidCron = await invalidCronRows(sql, INVALID_LISTED, columns);
      report.counts = await rowCounts(
        sql,
        columns,
        invalidCron.map((row) => row.id),
      );
      for (const [reason, count] of Object.entries(report.counts.invalid)) {
        if (count > 0)
          report.warnings.push(`${count} active schedule(s) are invalid (${reason}) and will not fire until fixed`);
      }
      for (const row of invalid.slice(0, SHOWN)) {
        report.warnings.push(
          `schedule ${row.id} (${row.schedule}) is invalid and will not fire until fixed: ${row.reason}`,
        );
      }
      const total = Object.values(report.counts.invalid).reduce((sum, n) => sum + n, 0) + invalidCron.length;
      if (total > SHOWN)
        report.warnings.push(
          `and ${total - SHOWN} more invalid schedule(s) (\`check-db --json\` lists up to ${INVALID_LISTED})`,
        );
      report.invalid = invalid;
      const policyColumns = presentPolicyColumns(columns);
      report.schedules = {
        columns: cronColumns(columns),
        ...(policyColumns.length > 0 ? { policyColumns } : {}),
        kinds: await scheduleKinds(sql, columns, 10),
        invalidCron,
      };
    }
    report.ok = report.problems.length === 0;
  } catch (error) {
    report.error = explainDatabaseError(error, config.db, config.connectTimeoutMs);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
  if (probes) report.hosts = await probes;
  return report;
}

function formatHostReport(host: HostReport): string {
  if (!host.ok) return `  host ${host.where}: down: ${host.error}`;
  return `  host ${host.where}: ${host.role}, ${host.readOnly ? "read-only" : "read-write"}`;
}

function formatDatabaseReport(report: DatabaseReport): string {
  const lines: string[] = [];
  const hosts = (report.hosts ?? []).map(formatHostReport);
  if (report.error) return [`FAILED ${report.error}`, ...hosts].join("\n");
  lines.push(`${report.ok ? "ok" : "FAILED"} PostgreSQL ${report.serverVersion ?? "?"} at ${report.where}`);
  lines.push(...hosts);
  for (const { host, ...state } of report.tls ?? []) lines.push(`  tls ${host}: ${describeTls(state)}`);
  for (const problem of report.problems) lines.push(`  error: ${problem}`);
  for (const warning of report.warnings) lines.push(`  warning: ${warning}`);
  if (report.counts) {
    const c = report.counts;
    lines.push(`  schedules: ${c.total} total, ${c.active} active, ${c.inactive} inactive, ${c.dueNow} due now`);
  }
  if (report.schedules) {
    const { columns, kinds, policyColumns } = report.schedules;
    lines.push(
      columns.cronExpression
        ? `  cron columns: cron_expression${columns.timezone ? ", timezone" : " (no timezone column: every cron row runs in UTC)"}`
        : `  cron columns: absent, interval schedules only (to add them: ${CRON_MIGRATION})`,
    );
    if (policyColumns) lines.push(`  policy columns: ${policyColumns.join(", ")}`);
    if (kinds.length > 0) lines.push(`  active kinds: ${kinds.map((k) => `${k.schedule} ×${k.count}`).join(", ")}`);
  }
  return lines.join("\n");
}

export default defineCommand({
  meta: { name: "check-db", description: "Check the PostgreSQL connection, tables, columns, index and invalid rows" },
  args: { ...jsonArg, ...dbArgs, ...connectArgs, ...logArgs },
  async run({ args }) {
    process.exitCode = await withConfig(args, async (config) =>
      printReport(await checkDatabase(config), args.json, formatDatabaseReport, config.secrets),
    );
  },
});
