/** The schedules a bulk verb touches: by ids, or every schedule of one workflow (by name or id). */
import { describeSchedule } from "../schedule/kinds.ts";
import type { Sql } from "./client.ts";
import { cronFields, type ListedRowColumns, policyOfRow, scheduleColumns } from "./store.ts";
import { INT4 } from "./types.ts";

/** One schedule as the preview shows it. */
export interface Target {
  readonly id: number;
  readonly workflowId: number | null;
  readonly workflowName: string | null;
  readonly isActive: boolean;
  /** `every 5m`, `0 9 * * * Europe/Berlin, jitter 1m`. */
  readonly schedule: string;
  /** next_run_at as PostgreSQL prints it (NULL, infinity and all). */
  readonly nextRunAt: string | null;
}

export type Selector = { readonly ids: readonly number[] } | { readonly workflow: string };

/**
 * The schedules a selector names, by id: `ids` as given (an unknown one is left out: the caller
 * says which), or every schedule whose workflow's id (when the text is a number) or name is
 * `workflow`. Read without locks: the verb locks what it changes.
 */
export async function findTargets(sql: Sql, selector: Selector): Promise<Target[]> {
  const columns = await scheduleColumns(sql);
  const where =
    "ids" in selector
      ? sql`sw.id = ANY(${sql.array(selector.ids as number[], INT4)}::int4[])`
      : /^\d{1,10}$/.test(selector.workflow) && Number(selector.workflow) <= 2 ** 31 - 1
        ? sql`(sw.workflow_id = ${Number(selector.workflow)} OR w.name = ${selector.workflow})`
        : sql`w.name = ${selector.workflow}`;
  const rows = await sql<(ListedRowColumns & { is_active: boolean; next_text: string | null })[]>`
    SELECT sw.id, sw.workflow_id, w.name AS workflow_name, sw.is_active, sw.next_run_at::text AS next_text,
           sw.interval_seconds, ${cronFields(sql, columns)}
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
     WHERE ${where}
     ORDER BY sw.id`;
  return rows.map((r) => ({
    id: r.id,
    workflowId: r.workflow_id,
    workflowName: r.workflow_name,
    isActive: r.is_active,
    schedule: describeSchedule({
      intervalSeconds: r.interval_seconds,
      cronExpression: r.cron_expression,
      timezone: r.timezone,
      ...policyOfRow(r),
    }),
    nextRunAt: r.next_text,
  }));
}
