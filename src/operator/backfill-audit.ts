/**
 * The audit row of a published backfill (docs/contract.md §10). A backfill changes no row, so
 * its record is written once the broker has answered, confirmed or not: the messages are out.
 */
import type { AuditActor } from "../postgres/audit.ts";
import { recordAudit } from "../postgres/audit.ts";
import type { Sql } from "../postgres/client.ts";

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
