/**
 * One claimed batch: plan every row, publish what is to be published, and turn the broker's
 * answers into row updates and a tally. Runs inside the claim transaction (see store.claimBatch).
 * It changes no counter and writes no log line: the engine applies the tally only once the
 * transaction that records these updates has committed.
 */

import type { ClaimedRow, OutgoingMessage } from "../schedule/message.ts";
import {
  type FirePlan,
  type PlanOptions,
  type PublishOutcome,
  planFire,
  type RowUpdate,
  rowUpdate,
  UnplannableRow,
} from "../schedule/plan.ts";
import type { Clock } from "./clock.ts";
import type { Publisher } from "./ports.ts";

interface FireDeps {
  readonly publisher: Publisher;
  readonly clock: Clock;
  readonly options: PlanOptions & { readonly pauseAfterFailures: number };
}

/**
 * What fires are counted by, once each: the batch tally, the process's metrics and their
 * exposition are all derived from this list.
 */
export const FIRE_COUNTERS = {
  executions: { metric: "executions_total", help: "Fires confirmed by the broker." },
  failures: { metric: "failures_total", help: "Fires recorded as failed (unroutable, too large)." },
  skipped: { metric: "skipped_misfires_total", help: "Slots skipped as later than SCHEDULER_MISFIRE_GRACE." },
  missed: {
    metric: "missed_slots_total",
    help: "Slots passed over because a schedule was late by more than one interval.",
  },
  unknown: {
    metric: "unknown_outcomes_total",
    help: "Publishes whose outcome was lost with the broker link, or that the broker nacked; the slot fires again.",
  },
  paused: {
    metric: "paused_schedules_total",
    help: "Schedules this process deactivated after SCHEDULER_PAUSE_AFTER_FAILURES.",
  },
} as const;

export type FireCounter = keyof typeof FIRE_COUNTERS;
export type FireCounts = Record<FireCounter, number>;

export function zeroFireCounts(): FireCounts {
  return { executions: 0, failures: 0, skipped: 0, missed: 0, unknown: 0, paused: 0 };
}

/** What a batch did, to be counted once it is committed. */
export interface FireTally extends FireCounts {
  /** Each confirmed fire, in batch order: for the lag histogram and the per-fire DEBUG line. */
  readonly confirmed: ConfirmedFire[];
  /** `schedule N: reason` of each failed fire. */
  readonly failed: string[];
  /** Local time of the broker's answers, when anything was fired. */
  firedAtMs: number | null;
}

interface ConfirmedFire {
  readonly id: number;
  readonly messageId: string;
  /** The W3C trace context the message carries, so a worker's trace can be found from the log. */
  readonly traceparent: string;
  readonly slotMs: number;
  /** From the slot to the broker's confirm, seconds. */
  readonly lagSeconds: number;
}

export interface FireResult {
  /** The rows to write back: every row whose outcome is known. */
  readonly updates: RowUpdate[];
  /** Why some outcome is unknown (the link was lost), or null when every outcome is known. */
  readonly unknown: string | null;
  /** Rows not taken for a reason already dealt with (a queue declared again): claim again now. */
  readonly retry: number;
  /** This batch found the queue missing and it was declared again: why, to be said. */
  readonly redeclared: string | null;
  /** Rows that cannot be planned at all: untouched, to be set aside by the engine. */
  readonly unplannable: readonly UnplannableRow[];
  readonly tally: FireTally;
}

export function emptyTally(): FireTally {
  return {
    ...zeroFireCounts(),
    confirmed: [],
    failed: [],
    firedAtMs: null,
  };
}

export async function fireBatch(deps: FireDeps, rows: ClaimedRow[], dbNowMs: number): Promise<FireResult> {
  const { publisher, clock, options } = deps;
  const plans: FirePlan[] = [];
  const unplannable: UnplannableRow[] = [];
  // One row's bad value is that row's problem: it never stops the plans of the others.
  for (const row of rows) {
    try {
      plans.push(planFire(row, dbNowMs, options));
    } catch (error) {
      unplannable.push(
        error instanceof UnplannableRow ? error : new UnplannableRow(row.id, String((error as Error).message)),
      );
    }
  }
  const messages: OutgoingMessage[] = [];
  for (const plan of plans) if (plan.kind === "publish") messages.push(plan.message);
  const sentAt = clock.now();
  const outcomes = await publisher.publishBatch(messages);
  const firedAt = clock.now();
  const times = { sentMs: sentAt, answeredMs: firedAt };
  const tally = emptyTally();
  const updates: RowUpdate[] = [];
  let unknown: string | null = null;
  let retry = 0;
  let redeclared: string | null = null;
  // The outcomes are in the order of the "publish" plans.
  let next = 0;
  for (const plan of plans) {
    const outcome: PublishOutcome | undefined = plan.kind === "publish" ? outcomes[next++] : undefined;
    const update = rowUpdate(plan, outcome, options.pauseAfterFailures, times);
    if (update === null) {
      if (outcome?.status === "retry") {
        retry += 1;
        if (outcome.redeclared) redeclared = outcome.reason;
      } else {
        unknown = outcome?.status === "unknown" ? outcome.reason : "no outcome";
        tally.unknown += 1;
      }
      continue;
    }
    updates.push(update);
    tally.missed += plan.missed;
    if (update.outcome === "skipped") tally.skipped += 1;
    else {
      tally.firedAtMs = firedAt;
      if (update.outcome === "ok") {
        tally.executions += 1;
        const { id, slotMs } = plan.row;
        const message = plan.kind === "publish" ? plan.message : null;
        const traceparent = String(message?.properties.headers.traceparent ?? "");
        tally.confirmed.push({
          id,
          messageId: message?.messageId ?? "",
          traceparent,
          slotMs,
          lagSeconds: (firedAt - slotMs) / 1000,
        });
      } else {
        tally.failures += 1;
        tally.failed.push(`schedule ${plan.row.id}: ${update.error}`);
      }
      if (update.pause && !update.ended) tally.paused += 1;
    }
  }
  return { updates, unknown, retry, redeclared, unplannable, tally };
}
