/**
 * The operator's `backfill` (docs/design.md §21): the past slots of one schedule in a window, published
 * with the ids the scheduler gives those slots, so a consumer that saw a slot can tell. The row
 * itself is not changed.
 */

import type { Publisher } from "../engine/ports.ts";
import type { Sql } from "../postgres/client.ts";
import { createdAt, type OperatorRow } from "../postgres/operator-rows.ts";
import { dueAt } from "../schedule/jitter.ts";
import { describeSchedule, slotsInWindow } from "../schedule/kinds.ts";
import { buildMessage, type OutgoingMessage } from "../schedule/message.ts";
import {
  checkedSize,
  loadRow,
  type MessageOptions,
  OperatorError,
  refusal,
  requireActive,
  scheduleFor,
} from "./verbs.ts";

/** A time with its zone (a bare date is midnight UTC): one without would be read in the host's zone. */
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** A window bound as an operator types it, in epoch ms: `undefined` when absent, null when unreadable. */
export function parseInstant(value: unknown): number | null | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string" || !INSTANT.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

/** The most slots one `backfill` publishes; a larger window is refused, not cut. */
export const MAX_BACKFILL_SLOTS = 1_000;

interface BackfillPlan {
  readonly row: OperatorRow;
  readonly schedule: string;
  /** Slots in [from, to), epoch ms, ascending; none before {@link createdMs}. */
  readonly slots: readonly number[];
  /** The row's `created_at`, epoch ms, when the table has that column and it is set; else null. */
  readonly createdMs: number | null;
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
  const createdMs = await createdAt(sql, id);
  const startMs = createdMs === null ? fromMs : Math.max(fromMs, createdMs);
  // No slot after ends_at (docs/design.md §24) is a slot of this schedule.
  const endMs = row.endsAtMs === undefined ? toMs : Math.min(toMs, row.endsAtMs + 1);
  const { slots, more } =
    startMs < endMs
      ? slotsInWindow(schedule, row.slotMs, startMs, endMs, MAX_BACKFILL_SLOTS)
      : { slots: [], more: false };
  if (more) {
    throw new OperatorError(
      "too many slots",
      `the window holds more than ${MAX_BACKFILL_SLOTS} slots of schedule ${id} (${shown}); narrow --from/--to (at most ${MAX_BACKFILL_SLOTS} a run)`,
    );
  }
  return { row, schedule: shown, slots, createdMs };
}

/** The backfill messages: each slot's own id `<id>:<slot ms>` (the id the scheduler gives it), trigger_source "backfill". */
export function backfillMessages(plan: BackfillPlan, nowMs: number, options: MessageOptions): OutgoingMessage[] {
  return plan.slots.map((slotMs) =>
    checkedSize(
      buildMessage(
        { ...plan.row, slotMs },
        {
          nowMs,
          missed: 0,
          seal: options.seal ?? null,
          triggerSource: "backfill",
          ...(plan.row.jitterSeconds ? { dueMs: dueAt(plan.row.id, slotMs, plan.row.jitterSeconds) } : {}),
        },
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
