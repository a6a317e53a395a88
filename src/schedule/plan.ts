/**
 * Pure decisions of the claim-and-fire cycle: what to do with each claimed row, and what to
 * write back once the broker has answered. No I/O here, so every rule is unit-tested on data.
 */

import { nextFire, scheduleOf } from "./kinds.ts";
import { buildMessage, type ClaimedRow, type OutgoingMessage } from "./message.ts";
import { isMisfire, pauseReason, shouldPause, skipReason } from "./slots.ts";

export interface PlanOptions {
  readonly misfireGraceMs: number;
  readonly maxMessageBytes: number;
  /** The broker's own limit, once it refused a larger message by closing the channel. */
  readonly brokerMaxBodyBytes?: number;
  readonly seal?: ((jsonText: string) => string) | null;
}

interface PlanBase {
  readonly row: ClaimedRow;
  readonly nextMs: number;
  readonly missed: number;
}
export type FirePlan =
  | (PlanBase & { readonly kind: "publish"; readonly message: OutgoingMessage })
  | (PlanBase & { readonly kind: "skip"; readonly reason: string })
  | (PlanBase & { readonly kind: "fail"; readonly reason: string });

/** What the broker said about one published message. */
export type PublishOutcome =
  | { readonly status: "confirmed" }
  | { readonly status: "failed"; readonly reason: string }
  /**
   * Lost before the broker answered, or nacked (the broker did not take it, for a reason of its
   * own: no queue leader, a full queue): the row must stay untouched so the slot fires again.
   */
  | { readonly status: "unknown"; readonly reason: string }
  /**
   * Not taken, for a reason of the environment that has been dealt with (the queue was missing
   * and is declared again): the row stays untouched and is claimed again at once.
   */
  | {
      readonly status: "retry";
      readonly reason: string;
      /** True for the batch whose return made the link declare the queue again (said once). */
      readonly redeclared?: boolean;
    };

export interface RowUpdate {
  readonly id: number;
  readonly nextMs: number;
  readonly outcome: "ok" | "failed" | "skipped";
  readonly error: string | null;
  readonly pause: boolean;
  /** What the fire history records of this attempt (docs/contract.md §10); absent: nothing to record beyond the row. */
  readonly fire?: FireRecord;
}

/** One fire attempt as the history table keeps it (the outcome and reason are the update's). */
export interface FireRecord {
  readonly slotMs: number;
  readonly missed: number;
  /** The message's id, or null when nothing was sent. */
  readonly messageId: string | null;
  /** When the message was handed to the broker (database time, epoch ms), or null. */
  readonly sentMs: number | null;
  /** When the broker confirmed it, or null (not confirmed). */
  readonly confirmedMs: number | null;
  /** From the slot to the broker's answer, seconds, or null when nothing was sent. */
  readonly lagSeconds: number | null;
}

/** When a batch went to the broker and when the broker answered (database time, epoch ms). */
export interface BatchTimes {
  readonly sentMs: number;
  readonly answeredMs: number;
}

/** The largest epoch ms a JavaScript Date (and so the message) can hold. */
const MAX_DATE_MS = 8.64e15;

/** A claimed row whose next slot cannot be computed: it cannot be moved on, only set aside. */
export class UnplannableRow extends Error {
  constructor(
    readonly id: number,
    reason: string,
  ) {
    super(reason);
    this.name = "UnplannableRow";
  }
}

/** Throws {@link UnplannableRow} when the row has no computable next slot (never for a claimable row). */
export function planFire(row: ClaimedRow, nowMs: number, options: PlanOptions): FirePlan {
  const found = scheduleOf(row);
  if (!Number.isFinite(row.slotMs) || (!found.ok && (row.cronExpression ?? null) === null)) {
    throw new UnplannableRow(
      row.id,
      `next_run_at ${row.slotMs} ms / interval_seconds ${row.intervalSeconds} cannot be computed`,
    );
  }
  // A cron row the claim let through with a bad expression or zone: set aside, with the parser's reason.
  if (!found.ok) throw new UnplannableRow(row.id, found.reason);
  let nextMs: number;
  let missed: number;
  try {
    ({ nextMs, missed } = nextFire(found.schedule, row.slotMs, nowMs));
  } catch (error) {
    throw new UnplannableRow(row.id, (error as Error).message);
  }
  if (!(Math.abs(nextMs) <= MAX_DATE_MS)) {
    throw new UnplannableRow(row.id, `its next slot (${nextMs} ms after 1970) is outside the representable range`);
  }
  // Object literals rather than spreads of a shared base: this runs once per fire.
  if (isMisfire(row.slotMs, nowMs, options.misfireGraceMs)) {
    return { row, nextMs, missed, kind: "skip", reason: skipReason(row.slotMs, nowMs, options.misfireGraceMs) };
  }
  let message: OutgoingMessage;
  try {
    message = buildMessage(row, { nowMs, missed, seal: options.seal ?? null });
  } catch (error) {
    return {
      row,
      nextMs,
      missed,
      kind: "fail",
      reason: `message could not be serialised: ${(error as Error).message}`,
    };
  }
  if (message.body.byteLength > options.maxMessageBytes) {
    const reason = `message of ${message.body.byteLength} bytes exceeds SCHEDULER_MAX_MESSAGE_BYTES=${options.maxMessageBytes}; not sent`;
    return { row, nextMs, missed, kind: "fail", reason };
  }
  if (options.brokerMaxBodyBytes !== undefined && message.body.byteLength > options.brokerMaxBodyBytes) {
    const reason = `message of ${message.body.byteLength} bytes exceeds the broker's max_message_size of ${options.brokerMaxBodyBytes} bytes (it closed the channel on it); not sent`;
    return { row, nextMs, missed, kind: "fail", reason };
  }
  return { row, nextMs, missed, kind: "publish", message };
}

/**
 * The write-back for one row, or null when the row must stay untouched (outcome unknown).
 * `published` is the broker's answer for a "publish" plan and ignored for the others.
 */
export function rowUpdate(
  plan: FirePlan,
  published: PublishOutcome | undefined,
  pauseAfter: number,
  times?: BatchTimes,
): RowUpdate | null {
  const { id } = plan.row;
  const { nextMs } = plan;
  if (plan.kind === "skip") {
    const update: RowUpdate = { id, nextMs, outcome: "skipped", error: plan.reason, pause: false };
    return times ? { ...update, fire: fireRecord(plan, null, null) } : update;
  }
  const failure = plan.kind === "fail" ? plan.reason : published?.status === "failed" ? published.reason : null;
  if (plan.kind === "publish") {
    if (!published || published.status === "unknown" || published.status === "retry") return null;
    if (published.status === "confirmed") {
      const update: RowUpdate = { id, nextMs, outcome: "ok", error: null, pause: false };
      return times ? { ...update, fire: fireRecord(plan, times, times.answeredMs) } : update;
    }
  }
  const failures = plan.row.failureCount + 1;
  const pause = shouldPause(failures, pauseAfter);
  const error = pause ? pauseReason(failures, failure!) : failure;
  const update: RowUpdate = { id, nextMs, outcome: "failed", error, pause };
  if (!times) return update;
  return { ...update, fire: fireRecord(plan, plan.kind === "publish" ? times : null, null) };
}

/** The history's view of one attempt: `sent` when the message went to the broker, `confirmedMs` when it took it. */
function fireRecord(plan: FirePlan, sent: BatchTimes | null, confirmedMs: number | null): FireRecord {
  const { slotMs } = plan.row;
  return {
    slotMs,
    missed: plan.missed,
    messageId: sent && plan.kind === "publish" ? plan.message.messageId : null,
    sentMs: sent?.sentMs ?? null,
    confirmedMs,
    lagSeconds: sent ? (sent.answeredMs - slotMs) / 1000 : null,
  };
}
