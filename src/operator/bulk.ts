/**
 * The verbs on several schedules at once (docs/design.md §25): `pause`, `resume` and `trigger`
 * of many ids, or of every schedule of one workflow. Each runs in ONE transaction: every row is
 * locked and changed, or (on any failure) none is. A bulk trigger publishes its messages in one
 * batch under the locks, then records the confirmed ones; a refused one records nothing and is
 * reported. Each row gets its own audit row (src/postgres/audit.ts), as the single verb writes it;
 * the tables are looked up once and the audit rows written in one statement, before the commit.
 */

import type { Publisher } from "../engine/ports.ts";
import { type AuditActor, lockForManualFire, withHistory } from "../postgres/audit.ts";
import type { Sql } from "../postgres/client.ts";
import { scheduleColumns } from "../postgres/store.ts";
import {
  locked,
  type MessageOptions,
  OperatorError,
  type Paused,
  type PlannedTrigger,
  pauseLocked,
  planTrigger,
  type Resumed,
  recordTrigger,
  refusal,
  resumeLocked,
  type Triggered,
} from "./verbs.ts";

/** The most schedules one bulk verb changes: a selector past it is refused, nothing changed. */
export const BULK_LIMIT = 10_000;

function checkCount(ids: readonly number[]): void {
  if (ids.length === 0) throw new OperatorError("unknown id", "no schedule matches; nothing was changed");
  if (ids.length > BULK_LIMIT)
    throw new OperatorError(
      "too many slots",
      `${ids.length} schedules match, more than the ${BULK_LIMIT} one command changes; narrow the selection`,
    );
}

/** For the lock failure's line: "schedule (one of 3, 5, 9) stayed locked …". */
const what = (ids: readonly number[]) => `(one of ${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""})`;

/** Pauses every row, in id order (so two bulk verbs never deadlock), in one transaction. */
export async function pauseMany(
  sql: Sql,
  ids: readonly number[],
  reason: string | null,
  who: AuditActor | null = null,
): Promise<Paused[]> {
  checkCount(ids);
  const sorted = [...ids].sort((a, b) => a - b);
  return locked(sql, what(sorted), (tx) =>
    withHistory(tx, who, async (history) => {
      const columns = await scheduleColumns(tx); // once for all the rows
      const done: Paused[] = [];
      for (const id of sorted) done.push(await pauseLocked(history, id, reason, columns));
      return done;
    }),
  );
}

/** Resumes every row in one transaction; an invalid one fails them all (nothing changed). */
export async function resumeMany(sql: Sql, ids: readonly number[], who: AuditActor | null = null): Promise<Resumed[]> {
  checkCount(ids);
  const sorted = [...ids].sort((a, b) => a - b);
  return locked(sql, what(sorted), (tx) =>
    withHistory(tx, who, async (history) => {
      const columns = await scheduleColumns(tx); // once for all the rows
      const done: Resumed[] = [];
      for (const id of sorted) done.push(await resumeLocked(history, id, columns));
      return done;
    }),
  );
}

export interface TriggeredMany {
  readonly triggered: Triggered[];
  /** Refused by the broker: nothing recorded for these. */
  readonly refused: { readonly id: number; readonly reason: string }[];
}

/**
 * Triggers every row in one transaction: all are locked and checked first (an inactive or
 * invalid one refuses the whole command before anything is sent), the messages go in one batch,
 * and each confirmed one is recorded as a fire.
 */
export async function triggerMany(
  sql: Sql,
  publisher: Publisher,
  ids: readonly number[],
  options: MessageOptions,
  who: AuditActor | null = null,
): Promise<TriggeredMany> {
  checkCount(ids);
  const sorted = [...ids].sort((a, b) => a - b);
  return locked(sql, what(sorted), (tx) =>
    withHistory(tx, who, async (history) => {
      const columns = await scheduleColumns(tx); // once for all the rows
      const planned: PlannedTrigger[] = [];
      for (const id of sorted) planned.push(await planTrigger(tx, id, options, columns));
      // Before publishing: a locked history table then fails the action with nothing sent (audit.ts).
      await lockForManualFire(history);
      const outcomes = await publisher.publishBatch(planned.map((p) => p.message));
      const triggered: Triggered[] = [];
      const refused: { id: number; reason: string }[] = [];
      for (const [i, plan] of planned.entries()) {
        const why = refusal(outcomes[i]!, `message ${plan.triggered.messageId}`);
        if (why) refused.push({ id: plan.triggered.id, reason: why });
        else {
          await recordTrigger(history, plan);
          triggered.push(plan.triggered);
        }
      }
      return { triggered, refused };
    }),
  );
}
