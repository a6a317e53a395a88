/**
 * Pure decisions of the claim-and-fire cycle: what to do with each claimed row, and what to
 * write back once the broker has answered. No I/O here, so every rule is unit-tested on data.
 */

import { dueAt } from "./jitter.ts";
import { scheduleOf } from "./kinds.ts";
import { buildMessage, type ClaimedRow, type OutgoingMessage } from "./message.ts";
import { catchUp, jitterProblem, type MisfirePolicy, policyOf } from "./policy.ts";
import { ENDED_PREFIX, pauseReason, shouldPause } from "./slots.ts";

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
  /**
   * `ended: …` when this claim ends the schedule (docs/design.md §24): its `ends_at` comes before
   * the next slot, a recorded fire reaches `max_runs`, or a one-shot's slot was claimed. Null otherwise.
   */
  readonly end: string | null;
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
  /** Deactivate the row (`is_active = false`): paused after failures, or ended. */
  readonly pause: boolean;
  /** Set when the deactivation is the schedule's end, not a pause (`last_error` starts with `ended`). */
  readonly ended?: true;
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
  const schedule = found.schedule;
  const policy: MisfirePolicy | null = policyOf(row.misfirePolicy);
  if (policy === null)
    throw new UnplannableRow(row.id, `misfire_policy ${JSON.stringify(row.misfirePolicy)} is not once, skip or all`);
  const badJitter = jitterProblem(schedule, row.jitterSeconds, row.slotMs);
  if (badJitter !== null) throw new UnplannableRow(row.id, badJitter);
  const dueMs = dueAt(row.id, row.slotMs, row.jitterSeconds);
  const ownGrace = row.misfireGraceSeconds !== undefined;
  let decision: ReturnType<typeof catchUp>;
  try {
    decision = catchUp(schedule, {
      policy,
      slotMs: row.slotMs,
      dueMs,
      nowMs,
      graceMs: ownGrace ? row.misfireGraceSeconds! * 1000 : options.misfireGraceMs,
      graceName: ownGrace ? "misfire_grace_seconds" : "SCHEDULER_MISFIRE_GRACE",
    });
  } catch (error) {
    throw new UnplannableRow(row.id, (error as Error).message);
  }
  const { nextMs, missed } = decision;
  if (!(Math.abs(nextMs) <= MAX_DATE_MS)) {
    throw new UnplannableRow(row.id, `its next slot (${nextMs} ms after 1970) is outside the representable range`);
  }
  const end = endOf(row, schedule.kind === "once", decision.fire, nextMs);
  // Object literals rather than spreads of a shared base: this runs once per fire.
  if (!decision.fire) return { row, nextMs, missed, end, kind: "skip", reason: decision.reason! };
  let message: OutgoingMessage;
  try {
    message = buildMessage(row, {
      nowMs,
      missed,
      seal: options.seal ?? null,
      // On every message of a jittered row, an offset of 0 ms included (docs/contract.md §4).
      ...(row.jitterSeconds ? { dueMs } : {}),
    });
  } catch (error) {
    return {
      row,
      nextMs,
      missed,
      end,
      kind: "fail",
      reason: `message could not be serialised: ${(error as Error).message}`,
    };
  }
  if (message.body.byteLength > options.maxMessageBytes) {
    const reason = `message of ${message.body.byteLength} bytes exceeds SCHEDULER_MAX_MESSAGE_BYTES=${options.maxMessageBytes}; not sent`;
    return { row, nextMs, missed, end, kind: "fail", reason };
  }
  if (options.brokerMaxBodyBytes !== undefined && message.body.byteLength > options.brokerMaxBodyBytes) {
    const reason = `message of ${message.body.byteLength} bytes exceeds the broker's max_message_size of ${options.brokerMaxBodyBytes} bytes (it closed the channel on it); not sent`;
    return { row, nextMs, missed, end, kind: "fail", reason };
  }
  return { row, nextMs, missed, end, kind: "publish", message };
}

/**
 * Why this claim ends the schedule, or null. `ends_at` bounds slots, not their jittered times: a
 * slot at or before it fires; the row ends when the next slot would pass it. `max_runs` counts
 * `run_count`, which every recorded fire raises (a failed one too) and a skip does not.
 */
function endOf(row: ClaimedRow, oneShot: boolean, fires: boolean, nextMs: number): string | null {
  if (fires && row.maxRuns !== undefined && row.runCount + 1 >= row.maxRuns)
    return `${ENDED_PREFIX}: max_runs ${row.maxRuns} reached`;
  if (oneShot)
    return `${ENDED_PREFIX}: its one slot ${new Date(row.slotMs).toISOString()} was ${fires ? "fired" : "skipped"}`;
  if (row.endsAtMs !== undefined && nextMs > row.endsAtMs)
    return `${ENDED_PREFIX}: the next slot ${new Date(nextMs).toISOString()} is after ends_at ${new Date(row.endsAtMs).toISOString()}`;
  return null;
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
  const { nextMs, end } = plan;
  if (plan.kind === "skip") {
    const update: RowUpdate =
      end === null
        ? { id, nextMs, outcome: "skipped", error: plan.reason, pause: false }
        : { id, nextMs, outcome: "skipped", error: `${end}; ${plan.reason}`, pause: true, ended: true };
    return times ? { ...update, fire: fireRecord(plan, null, null) } : update;
  }
  const failure = plan.kind === "fail" ? plan.reason : published?.status === "failed" ? published.reason : null;
  if (plan.kind === "publish") {
    if (!published || published.status === "unknown" || published.status === "retry") return null;
    if (published.status === "confirmed") {
      const update: RowUpdate =
        end === null
          ? { id, nextMs, outcome: "ok", error: null, pause: false }
          : { id, nextMs, outcome: "ok", error: end, pause: true, ended: true };
      return times ? { ...update, fire: fireRecord(plan, times, times.answeredMs) } : update;
    }
  }
  let update: RowUpdate;
  if (end !== null)
    update = { id, nextMs, outcome: "failed", error: `${end}; last fire failed: ${failure}`, pause: true, ended: true };
  else {
    const failures = plan.row.failureCount + 1;
    const pause = shouldPause(failures, pauseAfter);
    const error = pause ? pauseReason(failures, failure!) : failure;
    update = { id, nextMs, outcome: "failed", error, pause };
  }
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
