/**
 * The audit row of a published backfill (docs/contract.md §10). A backfill changes no row, so
 * its record is written once the broker has answered, confirmed or not: the messages are out.
 */
import type { AuditActor } from "../postgres/audit.ts";
import { recordAudit } from "../postgres/audit.ts";
import type { Sql } from "../postgres/client.ts";
import { OperatorError } from "./verbs.ts";

export function auditBackfill(
  sql: Sql,
  who: AuditActor | null,
  backfill: { id: number; fromMs: number; toMs: number; slots: number; refused: number },
): Promise<void> {
  const { id, fromMs, toMs, slots, refused } = backfill;
  const outcome =
    refused === 0 ? `published ${slots} slot(s), all confirmed` : `${refused} of ${slots} slot(s) not confirmed`;
  const detail = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), slots, refused };
  return recordAudit(sql, who, { action: "backfill", scheduleIds: [id], reason: null, outcome, detail });
}

/**
 * What the CLI and the console do once the broker has answered a backfill: the audit row, then,
 * when some slots were not confirmed, the failure that names them and says a retry is safe.
 */
export async function settleBackfill(
  sql: Sql,
  who: AuditActor | null,
  backfill: { id: number; fromMs: number; toMs: number; slots: number },
  refused: readonly { messageId: string; reason: string }[],
): Promise<void> {
  const { id, slots } = backfill;
  await auditBackfill(sql, who, { ...backfill, refused: refused.length });
  if (refused.length === 0) return;
  const first = refused[0]!;
  throw new OperatorError(
    "broker refused",
    `${refused.length} of ${slots} backfill message(s) of schedule ${id} were not confirmed (first: ${first.messageId}: ${first.reason}); publish again to retry: consumers drop the ones they already have by message id`,
  );
}
