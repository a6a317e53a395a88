/**
 * Pure: a schedule row as the console shows it. Its state in one word, why it is invalid, and
 * its kind in words; never its workflow_data (the queries read only its size).
 */
import type { ScheduleRecord } from "../postgres/console-queries.ts";
import { describeSchedule, scheduleOf } from "../schedule/kinds.ts";
import { jitterProblem, policyProblem } from "../schedule/policy.ts";
import { ENDED_PREFIX } from "../schedule/slots.ts";
import type { Instant, Row, ScheduleState } from "./contract.ts";

export type { ScheduleRecord };

/** Why the engine will not fire an active row, or null (the reasons of findInvalid and the cron parser). */
export function invalidReason(row: ScheduleRecord): string | null {
  if (!row.hasWorkflow) return "workflow missing";
  const found = scheduleOf(row);
  if (!found.ok) return found.reason;
  if (row.nextRunMs === null) return "next_run_at is NULL";
  if (!Number.isFinite(row.nextRunMs)) return "next_run_at is not finite";
  return policyProblem(row) ?? jitterProblem(found.schedule, row.jitterSeconds, row.nextRunMs);
}

/** The one state a list shows: ended or paused before invalid before failing before overdue. */
export function stateOf(row: ScheduleRecord, nowMs: number, overdueAfterMs: number): ScheduleState {
  if (!row.isActive) return row.lastError?.startsWith(`${ENDED_PREFIX}:`) ? "ended" : "paused";
  if (invalidReason(row) !== null) return "invalid";
  if (row.failureCount > 0) return "failing";
  if (row.nextRunMs !== null && row.nextRunMs < nowMs - overdueAfterMs) return "overdue";
  return "active";
}

const finiteOrText = (ms: number | null): Instant =>
  ms === null || Number.isFinite(ms) ? ms : ms > 0 ? "infinity" : "-infinity";

/** What the API sends for a row: JSON-safe (no Infinity), with the kind in words. */
export function rowView(row: ScheduleRecord, nowMs: number, overdueAfterMs: number): Row {
  return {
    id: row.id,
    workflowId: row.workflowId,
    workflowName: row.workflowName,
    isActive: row.isActive,
    state: stateOf(row, nowMs, overdueAfterMs),
    invalidReason: row.isActive ? invalidReason(row) : null,
    schedule: describeSchedule(row),
    nextRunMs: finiteOrText(row.nextRunMs),
    runCount: row.runCount,
    failureCount: row.failureCount,
    lastRunMs: finiteOrText(row.lastRunMs),
    lastError: row.lastError,
  };
}
