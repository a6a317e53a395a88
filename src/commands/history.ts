import { defineCommand } from "citty";
import { parseInstant } from "../operator/backfill.ts";
import { OperatorError } from "../operator/verbs.ts";
import type { Sql } from "../postgres/client.ts";
import { type AuditEntryRow, auditEntries, type FireEntry, scheduleFires } from "../postgres/history-queries.ts";
import { HISTORY_MIGRATION, historyTables, unreadableHistory, unreadableTables } from "../postgres/history-tables.ts";
import { connectArgs, dbArgs, jsonArg, logArgs } from "./shared.ts";
import { badArgument, idArg, runVerb, scheduleIdArg } from "./verb.ts";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1_000;

type Entry = ({ kind: "fire" } & FireEntry) | ({ kind: "action" } & AuditEntryRow);
const timeOf = (e: Entry) => (e.kind === "fire" ? e.recordedAt : e.at);

/** One line of an entry, for the text output. */
export function entryLine(e: Entry): string {
  if (e.kind === "action") {
    const reason = e.reason ? ` (reason: ${e.reason})` : "";
    return `${e.at}  action  ${e.action} by ${e.actor}: ${e.outcome}${reason}`;
  }
  const parts = [`${e.recordedAt}  fire    slot ${e.slot}  ${e.outcome}`];
  if (e.messageId) parts.push(e.messageId);
  if (e.lagSeconds !== null) parts.push(`lag ${e.lagSeconds.toFixed(3)}s`);
  if (e.missedRuns > 0) parts.push(`missed ${e.missedRuns}`);
  parts.push(`replica ${e.replica}`);
  if (e.runNumber !== null) parts.push(`run ${e.runNumber}`);
  if (e.reason) parts.push(`(${e.reason})`);
  return parts.join("  ");
}

/** The fires and actions of schedule `id`, newest first, at most `limit` together. */
export async function scheduleHistory(sql: Sql, id: number, since: string | null, limit: number): Promise<Entry[]> {
  const tables = await historyTables(sql);
  if (!tables.fires && !tables.audit)
    throw new OperatorError(
      "no history",
      `this database has no history tables (scheduler_fire_history, scheduler_audit); run ${HISTORY_MIGRATION} to start recording`,
    );
  // A table it may not read: say so, with the GRANT (not the schedules' hint of a bare 42501).
  const unreadable = unreadableTables(tables, { fires: true, audit: true });
  if (unreadable.length > 0)
    throw new OperatorError("history not readable", unreadableHistory(tables.user, unreadable));
  const window = { since, before: null, limit };
  const fires: Entry[] = tables.fires
    ? (await scheduleFires(sql, id, window)).map((f) => ({ kind: "fire", ...f }))
    : [];
  const actions: Entry[] = tables.audit
    ? (await auditEntries(sql, id, window)).map((a) => ({ kind: "action", ...a }))
    : [];
  // ISO texts of one format sort as their times.
  return [...fires, ...actions]
    .sort((a, b) => (timeOf(a) < timeOf(b) ? 1 : timeOf(a) > timeOf(b) ? -1 : 0))
    .slice(0, limit);
}

export default defineCommand({
  meta: {
    name: "history",
    description: "Fires and operator actions of one schedule, newest first, from the history tables",
  },
  args: {
    ...idArg,
    since: {
      type: "string",
      description: "only entries at or after this time (ISO 8601 with a zone)",
      valueHint: "time",
    },
    limit: {
      type: "string",
      description: `entries to show at most (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})`,
      valueHint: "n",
    },
    ...jsonArg,
    ...dbArgs,
    ...connectArgs,
    ...logArgs,
  },
  async run({ args }) {
    const id = scheduleIdArg("history", args.id);
    if (id === null) return;
    const sinceMs = parseInstant(args.since);
    if (sinceMs === null) {
      process.exitCode = badArgument(
        "history",
        `--since ${JSON.stringify(args.since)} is invalid: expected an ISO 8601 time with a zone, e.g. 2026-11-25T00:00:00Z`,
      );
      return;
    }
    const limit = args.limit === undefined ? DEFAULT_LIMIT : Number(args.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      process.exitCode = badArgument(
        "history",
        `--limit ${JSON.stringify(args.limit)} is invalid: expected a whole number from 1 to ${MAX_LIMIT}`,
      );
      return;
    }
    const since = sinceMs === undefined ? null : new Date(sinceMs).toISOString();
    process.exitCode = await runVerb(args, "history", false, async ({ sql }) => {
      const entries = await scheduleHistory(sql, id, since, limit);
      const fires = entries.filter((e) => e.kind === "fire").length;
      const head = `schedule ${id}: ${fires} fire(s) and ${entries.length - fires} action(s)${since ? ` since ${since}` : ""}, newest first${entries.length === limit ? ` (the newest ${limit}; --limit for more)` : ""}`;
      return { text: [head, ...entries.map(entryLine)].join("\n"), json: { id, since, limit, entries } };
    });
  },
});
