/**
 * The console's bulk actions (docs/console.md, docs/design.md §25): pause, resume or trigger the
 * schedules selected on the list. A request without `confirm: true` answers the preview (what
 * would be touched, as the CLI lists it) and changes nothing; with it, the verb runs on all of
 * them in one transaction, and one audit line is written per row.
 */

import { pauseMany, resumeMany, triggerMany } from "../operator/bulk.ts";
import { OperatorError } from "../operator/verbs.ts";
import type { AuditActor } from "../postgres/audit.ts";
import { findTargets } from "../postgres/bulk-targets.ts";
import type { ConsoleContext } from "./context.ts";
import { MAX_INT4 } from "./contract.ts";
import { objectBody, pauseReason } from "./input.ts";
import { BadRequest, json } from "./respond.ts";

export const BULK_ACTIONS = ["pause", "resume", "trigger"] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** The most ids one request may name: a page of the list is 50; a few pages selected at once. */
const MAX_SELECTED = 500;

function selectedIds(value: unknown): number[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new BadRequest("ids must be a non-empty array of schedule ids");
  if (value.length > MAX_SELECTED) throw new BadRequest(`ids holds more than ${MAX_SELECTED} schedules`);
  const ids = new Set<number>();
  for (const id of value) {
    if (!Number.isInteger(id) || id < 1 || id > MAX_INT4)
      throw new BadRequest("ids must hold positive integer schedule ids");
    ids.add(id);
  }
  return [...ids];
}

export async function runBulkAction(
  context: ConsoleContext,
  action: BulkAction,
  raw: unknown,
  remote: string,
): Promise<Response> {
  const body = objectBody(raw, ["ids", "reason", "confirm"]);
  const ids = selectedIds(body.ids);
  const reason = action === "pause" ? pauseReason(body) : null;
  if (action !== "pause" && body.reason !== undefined) throw new BadRequest(`${action} takes no reason`);
  if (body.confirm !== undefined && typeof body.confirm !== "boolean")
    throw new BadRequest("confirm must be true or false");
  const sql = context.sql();
  const targets = await findTargets(sql, { ids });
  const unknown = ids.filter((id) => !targets.some((t) => t.id === id));
  if (unknown.length > 0)
    return json({ ok: false, failure: "unknown id", error: `schedule(s) ${unknown.join(", ")} do not exist` }, 404);
  if (body.confirm !== true) return json({ ok: true, action, preview: true, targets });
  const audit = (id: number, line: string) =>
    context.log.info(`CONSOLE ACTION ${action} schedule=${id} from=${remote}: ${line}`, {
      action,
      schedule: id,
      remote,
      outcome: line,
      bulk: ids.length,
    });
  const who: AuditActor = { actor: `console ${remote} ${context.tokenLabel}`, source: "console" };
  try {
    const lines = await perform(context, action, ids, reason, who);
    for (const [id, line] of lines) audit(id, line);
    return json({ ok: true, action, targets, results: lines.map(([id, text]) => ({ id, text })) });
  } catch (error) {
    if (!(error instanceof OperatorError)) throw error;
    for (const id of ids) audit(id, `failed (${error.kind}), nothing changed: ${error.message}`);
    return json({ ok: false, failure: error.kind, error: error.message }, error.kind === "broker refused" ? 502 : 409);
  }
}

async function perform(
  context: ConsoleContext,
  action: BulkAction,
  ids: number[],
  reason: string | null,
  who: AuditActor,
): Promise<[number, string][]> {
  const sql = context.sql();
  if (action === "pause") {
    const done = await pauseMany(sql, ids, reason, who);
    return done.map((d) => [
      d.id,
      `ok paused schedule ${d.id}${d.wasActive ? "" : " (it was already inactive)"}: last_error "${d.lastError}"`,
    ]);
  }
  if (action === "resume") {
    const done = await resumeMany(sql, ids, who);
    return done.map((d) => [
      d.id,
      d.wasActive
        ? `ok schedule ${d.id} (${d.schedule}) is already active; nothing changed`
        : `ok resumed schedule ${d.id} (${d.schedule}): next run ${d.nextRunAt}`,
    ]);
  }
  const publisher = await context.openPublisher();
  try {
    const done = await triggerMany(sql, publisher, ids, context.messages, who);
    const lines: [number, string][] = done.triggered.map((d) => [
      d.id,
      `ok triggered schedule ${d.id} (${d.schedule}): message ${d.messageId} confirmed by the broker, run ${d.runNumber} recorded`,
    ]);
    for (const r of done.refused) lines.push([r.id, `failed (broker refused), not recorded: ${r.reason}`]);
    return lines;
  } finally {
    await publisher.close().catch(() => {});
  }
}
