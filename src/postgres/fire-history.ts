/**
 * Writing a claim's outcomes together with its fire history (docs/contract.md §10): ONE
 * statement updates the schedule rows and inserts one history row per row it updated, so a fire
 * is in the history if and only if the row records it, and a batch rolled back leaves nothing.
 */

import { messageIdFor } from "../schedule/message.ts";
import type { RowUpdate } from "../schedule/plan.ts";
import type { Sql } from "./client.ts";
import { outcomeSet, successSet } from "./outcome-set.ts";
import { BOOL, FLOAT8, INT4, TEXT } from "./types.ts";

/** Where the history goes: this replica's name (SCHEDULER_INSTANCE_NAME) on every row it writes. */
export interface FireHistoryTarget {
  readonly replica: string;
}

const nullable = (values: (number | null)[]) => values as number[];

/**
 * `missed_runs` as the int4 column holds it: a row a century behind a one-second grid passed
 * over 3 billion slots, and an int4 overflow (22003) would fail the history of its whole batch.
 */
const missedOf = (fire: { missed: number } | undefined) => Math.min(fire?.missed ?? 0, INT4_MAX);
const INT4_MAX = 2 ** 31 - 1;

/**
 * The outcome write-back of record.ts's recordOutcomes (the same SET list, outcome-set.ts),
 * with the history insert fed by its RETURNING: `run_number` is the `run_count` the UPDATE wrote.
 */
export async function recordWithHistory(
  sql: Sql,
  updates: readonly RowUpdate[],
  target: FireHistoryTarget,
): Promise<void> {
  if (updates.length === 0) return;
  if (plainSuccesses(updates)) return recordSuccessesWithHistory(sql, updates, target);
  const n = updates.length;
  const ids = new Array<number>(n);
  const next = new Array<number>(n);
  const outcomes = new Array<string>(n);
  const errors = new Array<string | null>(n);
  const pauses = new Array<boolean>(n);
  const slots = new Array<number | null>(n);
  const missed = new Array<number>(n);
  const messageIds = new Array<string | null>(n);
  const sent = new Array<number | null>(n);
  const confirmed = new Array<number | null>(n);
  const lags = new Array<number | null>(n);
  for (let i = 0; i < n; i++) {
    const u = updates[i]!;
    const fire = u.fire;
    ids[i] = u.id;
    next[i] = u.nextMs;
    outcomes[i] = u.outcome;
    errors[i] = u.error;
    pauses[i] = u.pause;
    slots[i] = fire?.slotMs ?? null;
    missed[i] = missedOf(fire);
    messageIds[i] = fire?.messageId ?? null;
    sent[i] = fire?.sentMs ?? null;
    confirmed[i] = fire?.confirmedMs ?? null;
    lags[i] = fire?.lagSeconds ?? null;
  }
  await sql`
    WITH u AS (
      SELECT * FROM unnest(${sql.array(ids, INT4)}::int4[], ${sql.array(next, FLOAT8)}::float8[],
                           ${sql.array(outcomes, TEXT)}::text[], ${sql.array(errors as string[], TEXT)}::text[],
                           ${sql.array(pauses, BOOL)}::bool[], ${sql.array(nullable(slots), FLOAT8)}::float8[],
                           ${sql.array(missed, INT4)}::int4[], ${sql.array(messageIds as string[], TEXT)}::text[],
                           ${sql.array(nullable(sent), FLOAT8)}::float8[], ${sql.array(nullable(confirmed), FLOAT8)}::float8[],
                           ${sql.array(nullable(lags), FLOAT8)}::float8[])
        AS u(id, next_ms, outcome, error, pause, slot_ms, missed, message_id, sent_ms, confirmed_ms, lag)
    ), w AS (
      UPDATE scheduled_workflows sw SET ${outcomeSet(sql)}
      FROM u WHERE sw.id = u.id
      RETURNING sw.id, sw.run_count, sw.next_run_at
    )
    INSERT INTO scheduler_fire_history
      (schedule_id, slot, message_id, outcome, reason, missed_runs, sent_at, confirmed_at, lag_seconds, replica, run_number)
    SELECT u.id, to_timestamp(coalesce(u.slot_ms, u.next_ms) / 1000.0), u.message_id,
           CASE u.outcome WHEN 'ok' THEN 'published' ELSE u.outcome END, u.error, u.missed,
           to_timestamp(u.sent_ms / 1000.0), to_timestamp(u.confirmed_ms / 1000.0), u.lag, ${target.replica},
           CASE WHEN u.outcome = 'skipped' THEN NULL ELSE w.run_count END
      FROM u JOIN w ON w.id = u.id`;
}

/**
 * record.ts's move-on for a row whose full write-back was refused, with its history row: the
 * message went out (or the slot was passed), so the history says so, with the refusal as the
 * reason and no run number (run_count did not count it).
 */
export async function moveOnWithHistory(
  sql: Sql,
  update: RowUpdate,
  lastError: string,
  target: FireHistoryTarget,
): Promise<void> {
  const fire = update.fire;
  await sql`
    WITH w AS (
      UPDATE scheduled_workflows SET next_run_at = to_timestamp(${update.nextMs} / 1000.0), last_error = ${lastError}
       WHERE id = ${update.id} RETURNING id
    )
    INSERT INTO scheduler_fire_history
      (schedule_id, slot, message_id, outcome, reason, missed_runs, sent_at, confirmed_at, lag_seconds, replica, run_number)
    SELECT w.id, to_timestamp(${fire?.slotMs ?? update.nextMs} / 1000.0), ${fire?.messageId ?? null},
           ${update.outcome === "ok" ? "published" : update.outcome}, ${lastError}, ${missedOf(fire)},
           to_timestamp(${fire?.sentMs ?? null}::float8 / 1000.0), to_timestamp(${fire?.confirmedMs ?? null}::float8 / 1000.0),
           ${fire?.lagSeconds ?? null}::float8, ${target.replica}, NULL
      FROM w`;
}

/**
 * Confirmed, nothing to say or pause, sent and confirmed together, each with its slot's own
 * message id: what almost every batch is. Then the message id and the lag follow from the slot,
 * and the times are the batch's.
 */
function plainSuccesses(updates: readonly RowUpdate[]): boolean {
  const first = updates[0]!.fire;
  if (!first || first.sentMs === null || first.confirmedMs === null) return false;
  for (const u of updates) {
    const fire = u.fire;
    if (u.outcome !== "ok" || u.error !== null || u.pause || !fire) return false;
    if (fire.sentMs !== first.sentMs || fire.confirmedMs !== first.confirmedMs) return false;
    if (fire.messageId !== messageIdFor(u.id, fire.slotMs)) return false;
  }
  return true;
}

/**
 * {@link recordWithHistory} for {@link plainSuccesses}: the "ok" arm of each CASE, from four
 * arrays sent as array literals (integers and finite float8s, which JavaScript writes exactly),
 * the message id rebuilt as messageIdFor does (`<id>:<floor of the slot ms>`).
 */
async function recordSuccessesWithHistory(
  sql: Sql,
  updates: readonly RowUpdate[],
  target: FireHistoryTarget,
): Promise<void> {
  let ids = "";
  let next = "";
  let slots = "";
  let missed = "";
  for (const u of updates) {
    const comma = ids === "" ? "" : ",";
    ids += `${comma}${u.id}`;
    next += `${comma}${u.nextMs}`;
    slots += `${comma}${u.fire!.slotMs}`;
    missed += `${comma}${missedOf(u.fire)}`;
  }
  const { sentMs, confirmedMs } = updates[0]!.fire!;
  await sql`
    WITH u AS (
      SELECT * FROM unnest(${`{${ids}}`}::int4[], ${`{${next}}`}::float8[], ${`{${slots}}`}::float8[], ${`{${missed}}`}::int4[])
        AS u(id, next_ms, slot_ms, missed)
    ), w AS (
      UPDATE scheduled_workflows sw SET ${successSet(sql)}
      FROM u WHERE sw.id = u.id
      RETURNING sw.id, sw.run_count
    )
    INSERT INTO scheduler_fire_history
      (schedule_id, slot, message_id, outcome, missed_runs, sent_at, confirmed_at, lag_seconds, replica, run_number)
    SELECT u.id, to_timestamp(u.slot_ms / 1000.0), u.id || ':' || floor(u.slot_ms)::bigint, 'published', u.missed,
           to_timestamp(${sentMs}::float8 / 1000.0), to_timestamp(${confirmedMs}::float8 / 1000.0),
           (${confirmedMs}::float8 - u.slot_ms) / 1000.0, ${target.replica}, w.run_count
      FROM u JOIN w ON w.id = u.id`;
}
