/**
 * The operator's `backfill` (docs/design.md §21): the past slots of one schedule in a window, published
 * with the ids the scheduler gives those slots, so a consumer that saw a slot can tell. The row
 * itself is not changed.
 */

import type { Publisher } from "../engine/ports.ts";
import type { Sql } from "../postgres/client.ts";
import { describeSchedule, slotsInWindow } from "../schedule/kinds.ts";
import { buildMessage, type OutgoingMessage } from "../schedule/message.ts";
import {
  checkedSize,
  loadRow,
  type MessageOptions,
  OperatorError,
  type OperatorRow,
  refusal,
  requireActive,
  scheduleFor,
} from "./verbs.ts";

/** The most slots one `backfill` publishes; a larger window is refused, not cut. */
export const MAX_BACKFILL_SLOTS = 1_000;

export interface BackfillPlan {
  readonly row: OperatorRow;
  readonly schedule: string;
  /** Slots in [from, to), epoch ms, ascending. */
  readonly slots: readonly number[];
}

/** The slots `backfill` would publish: at most {@link MAX_BACKFILL_SLOTS}, all before the database's now. */
export async function planBackfill(sql: Sql, id: number, fromMs: number, toMs: number): Promise<BackfillPlan> {
  const row = await loadRow(sql, id, false);
  requireActive(row, "backfilled");
  const schedule = scheduleFor(row, false);
  const shown = describeSchedule({ ...row, intervalSeconds: row.rawIntervalSeconds });
  if (toMs > row.dbNowMs) {
    throw new OperatorError(
      "not past",
      `--to ${new Date(toMs).toISOString()} is after the database's now (${new Date(row.dbNowMs).toISOString()}): backfill publishes past slots only, the scheduler fires the others`,
    );
  }
  const { slots, more } = slotsInWindow(schedule, row.slotMs, fromMs, toMs, MAX_BACKFILL_SLOTS);
  if (more) {
    throw new OperatorError(
      "too many slots",
      `the window holds more than ${MAX_BACKFILL_SLOTS} slots of schedule ${id} (${shown}); narrow --from/--to (at most ${MAX_BACKFILL_SLOTS} a run)`,
    );
  }
  return { row, schedule: shown, slots };
}

/** The backfill messages: each slot's own id `<id>:<slot ms>` (the id the scheduler gives it), trigger_source "backfill". */
export function backfillMessages(plan: BackfillPlan, nowMs: number, options: MessageOptions): OutgoingMessage[] {
  return plan.slots.map((slotMs, i) =>
    checkedSize(
      buildMessage(
        { ...plan.row, slotMs, runCount: plan.row.runCount + i },
        { nowMs, missed: 0, seal: options.seal ?? null, triggerSource: "backfill" },
      ),
      options,
      plan.row.id,
    ),
  );
}

/** Publishes them and waits for the broker; the row is not changed. Returns the refused ones. */
export async function publishBackfill(
  publisher: Publisher,
  messages: readonly OutgoingMessage[],
): Promise<{ messageId: string; reason: string }[]> {
  const outcomes = await publisher.publishBatch(messages);
  return outcomes.flatMap((outcome, i) => {
    const refused = refusal(outcome, `message ${messages[i]!.messageId}`);
    return refused ? [{ messageId: messages[i]!.messageId, reason: refused }] : [];
  });
}
