/**
 * The operator's verbs (docs/design.md §21): trigger, pause and resume here, backfill in src/operator/backfill.ts on
 * the row helpers exported here. One function per verb, `sql` first, I/O passed in; the statements
 * are in src/postgres/operator-rows.ts, and the commands only parse arguments and print.
 *
 * SAFE BESIDE A RUNNING SCHEDULER: every verb that writes locks its row first with
 * `FOR NO KEY UPDATE` (the engine's claim lock, but waiting, not SKIP LOCKED), bounded by
 * {@link ROW_LOCK_TIMEOUT_MS}. A claim that holds the row makes the verb wait for its commit; a
 * verb that holds it makes the engine's claim skip the row until the verb commits. So a row is
 * written by one of them at a time, each write whole.
 */

import type { Publisher } from "../engine/ports.ts";
import {
  type AuditActor,
  lockForManualFire,
  recordManualFire,
  type TransactionHistory,
  withHistory,
} from "../postgres/audit.ts";
import type { Sql } from "../postgres/client.ts";
import {
  isLockTimeout,
  type OperatorRow,
  pauseRow,
  readOperatorRow,
  recordManualRun,
  resumeRow,
  withLockTimeout,
} from "../postgres/operator-rows.ts";
import type { ScheduleColumns } from "../postgres/store.ts";
import { describeSchedule, nextSlotAfter, type Schedule, scheduleOf } from "../schedule/kinds.ts";
import { buildMessage, manualMessageId, type OutgoingMessage } from "../schedule/message.ts";
import type { PublishOutcome } from "../schedule/plan.ts";
import { ENDED_PREFIX, OPERATOR_PAUSE_PREFIX } from "../schedule/slots.ts";

export type { OperatorRow };

/** How long a verb waits for a row another session (a scheduler's claim) holds. */
const ROW_LOCK_TIMEOUT_MS = 10_000;

type OperatorFailure =
  | "unknown id"
  | "inactive"
  | "invalid"
  | "locked"
  | "broker refused"
  | "too many slots"
  | "not past"
  | "no history"
  | "history not readable"
  | "not confirmed";

/** A verb's failure: `message` is the one line the operator sees. */
export class OperatorError extends Error {
  constructor(
    readonly kind: OperatorFailure,
    message: string,
  ) {
    super(message);
    this.name = "OperatorError";
  }
}

/** One schedule with its workflow, optionally locked for this transaction (waiting, bounded). */
export async function loadRow(sql: Sql, id: number, lock: boolean, columns?: ScheduleColumns): Promise<OperatorRow> {
  const row = await readOperatorRow(sql, id, lock, columns);
  if (!row) throw new OperatorError("unknown id", `schedule ${id} does not exist`);
  return row;
}

/** The row's schedule, or the named failure; `needsSlot`: the verb needs next_run_at (an interval grid, a fire). */
export function scheduleFor(row: OperatorRow, needsSlot: boolean): Schedule {
  const invalid = (why: string) =>
    new OperatorError("invalid", `schedule ${row.id} is invalid (${why}); fix the row first`);
  if (!row.hasWorkflow) throw invalid(`workflow ${row.workflowId} is missing`);
  const found = scheduleOf({
    intervalSeconds: row.rawIntervalSeconds,
    cronExpression: row.cronExpression,
    timezone: row.timezone,
  });
  if (!found.ok) throw invalid(found.reason);
  if ((needsSlot || found.schedule.kind === "interval") && !Number.isFinite(row.slotMs))
    throw invalid("next_run_at is NULL or not finite");
  return found.schedule;
}

export function requireActive(row: OperatorRow, verb: string): void {
  if (!row.isActive)
    throw new OperatorError(
      "inactive",
      `schedule ${row.id} is inactive, so it is not ${verb}; \`rune-scheduler resume ${row.id}\` first`,
    );
}

/** Runs `work` in a transaction whose row locks wait at most {@link ROW_LOCK_TIMEOUT_MS}. */
export async function locked<T>(sql: Sql, id: number | string, work: (tx: Sql) => Promise<T>): Promise<T> {
  try {
    return await withLockTimeout(sql, ROW_LOCK_TIMEOUT_MS, work);
  } catch (error) {
    if (isLockTimeout(error)) {
      throw new OperatorError(
        "locked",
        `schedule ${id} stayed locked by another session (a scheduler firing it?) for ${ROW_LOCK_TIMEOUT_MS / 1000}s; nothing was changed; try again`,
      );
    }
    throw error;
  }
}

export interface MessageOptions {
  readonly seal?: ((jsonText: string) => string) | null;
  readonly maxMessageBytes: number;
}

export function checkedSize(message: OutgoingMessage, options: MessageOptions, id: number): OutgoingMessage {
  if (message.body.byteLength > options.maxMessageBytes) {
    throw new OperatorError(
      "broker refused",
      `schedule ${id}: message of ${message.body.byteLength} bytes exceeds SCHEDULER_MAX_MESSAGE_BYTES=${options.maxMessageBytes}; not sent`,
    );
  }
  return message;
}

export function refusal(outcome: PublishOutcome, what: string): string | null {
  if (outcome.status === "confirmed") return null;
  if (outcome.status === "unknown")
    return `the RabbitMQ link was lost before the broker confirmed ${what} (${outcome.reason}); it may or may not have been delivered`;
  return `RabbitMQ did not take ${what}: ${outcome.reason}`;
}

export interface Triggered {
  readonly id: number;
  readonly messageId: string;
  readonly triggeredAt: string;
  readonly runNumber: number;
  readonly schedule: string;
}

/**
 * `trigger`: one message now (trigger_source "manual", id `<id>:manual:<ms>`), confirmed, then
 * recorded as a confirmed fire is (last_run_at, run_count, failure_count, last_error), all under
 * the row lock; `next_run_at` is never touched. A refused publish records nothing.
 */
export async function triggerSchedule(
  sql: Sql,
  publisher: Publisher,
  id: number,
  options: MessageOptions,
  who: AuditActor | null = null,
): Promise<Triggered> {
  return locked(sql, id, (tx) =>
    withHistory(tx, who, async (history) => {
      const planned = await planTrigger(tx, id, options);
      await lockForManualFire(history);
      const [outcome] = await publisher.publishBatch([planned.message]);
      const refused = refusal(outcome!, `message ${planned.triggered.messageId}`);
      if (refused) throw new OperatorError("broker refused", `${refused}; schedule ${id} was not changed`);
      await recordTrigger(history, planned);
      return planned.triggered;
    }),
  );
}

/** A trigger's message and what it records, for a row locked by the caller's transaction. */
export interface PlannedTrigger {
  readonly message: OutgoingMessage;
  readonly nowMs: number;
  readonly triggered: Triggered;
  /** `ended: max_runs N reached` when this run brings run_count to max_runs (docs/design.md §24); else null. */
  readonly end: string | null;
}

/** The manual message of one row, locked in `tx`: refused when inactive or invalid (nothing sent). */
export async function planTrigger(
  tx: Sql,
  id: number,
  options: MessageOptions,
  columns?: ScheduleColumns,
): Promise<PlannedTrigger> {
  const row = await loadRow(tx, id, true, columns);
  requireActive(row, "triggered");
  scheduleFor(row, false);
  // ORDER: the time is read after the lock was granted, and is later than the last recorded
  // run: two triggers waiting on one row started their transactions at the same now(), and
  // would otherwise share a message id (a consumer would drop the second as a duplicate).
  const nowMs = Math.max(Math.floor(row.clockMs), Math.floor(row.lastRunMs ?? 0) + 1);
  const messageId = manualMessageId(id, nowMs);
  const message = checkedSize(
    buildMessage(
      { ...row, slotMs: nowMs },
      { nowMs, missed: 0, seal: options.seal ?? null, triggerSource: "manual", messageId },
    ),
    options,
    id,
  );
  const end =
    row.maxRuns !== undefined && row.runCount + 1 >= row.maxRuns
      ? `${ENDED_PREFIX}: max_runs ${row.maxRuns} reached`
      : null;
  return {
    message,
    nowMs,
    end,
    triggered: {
      id,
      messageId,
      triggeredAt: new Date(nowMs).toISOString(),
      runNumber: row.runCount + 1,
      schedule: describeSchedule({ ...row, intervalSeconds: row.rawIntervalSeconds }),
    },
  };
}

/**
 * Records a confirmed trigger as a fire (next_run_at untouched; the row ends when it reached
 * max_runs), its fire-history row and its audit row.
 */
export async function recordTrigger(history: TransactionHistory, planned: PlannedTrigger): Promise<void> {
  const { id, messageId, runNumber } = planned.triggered;
  await recordManualRun(history.sql, id, planned.nowMs, planned.end);
  await recordManualFire(history, {
    id,
    messageId,
    atMs: planned.nowMs,
    runNumber,
    sender: history.who?.actor ?? "cli",
  });
  history.audit({
    action: "trigger",
    scheduleIds: [id],
    reason: null,
    outcome: `message ${messageId} confirmed, run ${runNumber}${planned.end ? `; ${planned.end}` : ""}`,
    detail: { messageId },
  });
}

export interface Paused {
  readonly id: number;
  readonly wasActive: boolean;
  readonly lastError: string;
}

/** `pause`: is_active off, `last_error` = "paused by operator[: reason]". Pausing a paused row just restates the reason. */
export async function pauseSchedule(
  sql: Sql,
  id: number,
  reason: string | null,
  who: AuditActor | null = null,
): Promise<Paused> {
  return locked(sql, id, (tx) => withHistory(tx, who, (history) => pauseLocked(history, id, reason)));
}

/** {@link pauseSchedule} of one row inside the caller's transaction, with its audit row (queued in `history`). */
export async function pauseLocked(
  history: TransactionHistory,
  id: number,
  reason: string | null,
  columns?: ScheduleColumns,
): Promise<Paused> {
  const tx = history.sql;
  const row = await loadRow(tx, id, true, columns);
  const lastError = reason ? `${OPERATOR_PAUSE_PREFIX}: ${reason}` : OPERATOR_PAUSE_PREFIX;
  await pauseRow(tx, id, lastError);
  const outcome = row.isActive ? "paused" : "already paused";
  history.audit({ action: "pause", scheduleIds: [id], reason, outcome });
  return { id, wasActive: row.isActive, lastError };
}

export interface Resumed {
  readonly id: number;
  readonly wasActive: boolean;
  /** The next slot after now on the schedule's own grid (or the next cron time); null when it was already active. */
  readonly nextRunAt: string | null;
  readonly schedule: string;
}

/** `resume`: active again at the next slot after now (no burst of what it missed), failure_count 0, last_error NULL. */
export async function resumeSchedule(sql: Sql, id: number, who: AuditActor | null = null): Promise<Resumed> {
  return locked(sql, id, (tx) => withHistory(tx, who, (history) => resumeLocked(history, id)));
}

/** {@link resumeSchedule} of one row inside the caller's transaction, with its audit row (queued in `history`). */
export async function resumeLocked(
  history: TransactionHistory,
  id: number,
  columns?: ScheduleColumns,
): Promise<Resumed> {
  const tx = history.sql;
  const row = await loadRow(tx, id, true, columns);
  const schedule = scheduleFor(row, false);
  const shown = describeSchedule({ ...row, intervalSeconds: row.rawIntervalSeconds });
  if (row.isActive) {
    history.audit({ action: "resume", scheduleIds: [id], reason: null, outcome: "already active" });
    return { id, wasActive: true, nextRunAt: null, schedule: shown };
  }
  const nextMs = nextSlotAfter(schedule, row.slotMs, row.dbNowMs);
  if (nextMs === null)
    throw new OperatorError("invalid", `schedule ${id} is invalid (its expression has no time after now)`);
  await resumeRow(tx, id, nextMs);
  const nextRunAt = new Date(nextMs).toISOString();
  history.audit({
    action: "resume",
    scheduleIds: [id],
    reason: null,
    outcome: `resumed, next run ${nextRunAt}`,
  });
  return { id, wasActive: false, nextRunAt, schedule: shown };
}
