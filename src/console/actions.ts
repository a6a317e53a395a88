/**
 * The console's actions: trigger, pause, resume and backfill, through the operator verbs the
 * CLI runs (src/operator), with a database and a broker link opened the way the CLI opens them.
 * Each answers the verb's own outcome and writes one audit line: action, schedule, address, outcome.
 */
import { backfillMessages, planBackfill, publishBackfill } from "../operator/backfill.ts";
import { settleBackfill } from "../operator/backfill-audit.ts";
import { OperatorError, pauseSchedule, resumeSchedule, triggerSchedule } from "../operator/verbs.ts";
import type { AuditActor } from "../postgres/audit.ts";
import type { BrokerLink } from "../rabbitmq/link.ts";
import { messageIdFor } from "../schedule/message.ts";
import type { ConsoleContext } from "./context.ts";
import { parseScheduleId } from "./contract.ts";
import { backfillInput, objectBody, pauseReason } from "./input.ts";
import { BadRequest, json } from "./respond.ts";

export const ACTIONS = ["trigger", "pause", "resume", "backfill"] as const;
export type Action = (typeof ACTIONS)[number];

const STATUS_OF: Record<OperatorError["kind"], number> = {
  "unknown id": 404,
  inactive: 409,
  invalid: 409,
  locked: 409,
  "too many slots": 422,
  "not past": 422,
  "not confirmed": 428,
  "broker refused": 502,
  "no history": 404,
  "history not readable": 403,
};

const iso = (ms: number) => new Date(ms).toISOString();

interface Outcome {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** The audit line's outcome: `ok …` or `failed …`. */
  readonly line: string;
}

export async function runAction(
  context: ConsoleContext,
  action: Action,
  id: number,
  raw: unknown,
  remote: string,
): Promise<Response> {
  let outcome: Outcome;
  const who: AuditActor = { actor: `console ${remote} ${context.tokenLabel}`, source: "console" };
  try {
    outcome = await perform(context, action, id, raw, who);
  } catch (error) {
    outcome = failure(context, error);
  }
  auditAction(context, action, String(id), remote, outcome.line);
  return json(outcome.body, outcome.status);
}

/**
 * The audit line of an action, refused or not. `idText` is the id as the path gave it: one that
 * is no id is quoted and cut, so the line stays one line of known shape.
 */
export function auditAction(context: ConsoleContext, action: Action, idText: string, remote: string, outcome: string) {
  const id = parseScheduleId(idText);
  const schedule = id ?? JSON.stringify(idText.slice(0, 20));
  context.log.info(`CONSOLE ACTION ${action} schedule=${schedule} from=${remote}: ${outcome}`, {
    action,
    schedule,
    remote,
    outcome,
  });
}

function failure(context: ConsoleContext, error: unknown): Outcome {
  if (error instanceof BadRequest)
    return { status: error.status, body: { ok: false, error: error.message }, line: `refused: ${error.message}` };
  if (error instanceof OperatorError) {
    return {
      status: STATUS_OF[error.kind],
      body: { ok: false, failure: error.kind, error: error.message },
      line: `failed (${error.kind}): ${error.message}`,
    };
  }
  if (error instanceof BrokerUnavailable) {
    const line = context.explain("RabbitMQ", error.cause);
    return { status: 503, body: { ok: false, failure: "broker unreachable", error: line }, line: `failed: ${line}` };
  }
  const line = context.explain("PostgreSQL", error);
  return { status: 503, body: { ok: false, failure: "database", error: line }, line: `failed: ${line}` };
}

class BrokerUnavailable extends Error {}

async function withPublisher<T>(context: ConsoleContext, work: (publisher: BrokerLink) => Promise<T>): Promise<T> {
  const publisher = await context.openPublisher().catch((error: unknown) => {
    throw new BrokerUnavailable("broker unreachable", { cause: error });
  });
  try {
    return await work(publisher);
  } finally {
    await publisher.close().catch(() => {});
  }
}

async function perform(
  context: ConsoleContext,
  action: Action,
  id: number,
  raw: unknown,
  who: AuditActor,
): Promise<Outcome> {
  const sql = context.sql();
  switch (action) {
    case "trigger": {
      objectBody(raw, []);
      const done = await withPublisher(context, (publisher) =>
        triggerSchedule(sql, publisher, id, context.messages, who),
      );
      const line = `ok triggered schedule ${id} (${done.schedule}): message ${done.messageId} confirmed by the broker, run ${done.runNumber} recorded; next_run_at unchanged`;
      return { status: 200, body: { ok: true, action, text: line, ...done }, line };
    }
    case "pause": {
      const reason = pauseReason(objectBody(raw, ["reason"]));
      const done = await pauseSchedule(sql, id, reason, who);
      const was = done.wasActive ? "" : " (it was already inactive)";
      const line = `ok paused schedule ${id}${was}: last_error "${done.lastError}"`;
      return { status: 200, body: { ok: true, action, text: line, ...done }, line };
    }
    case "resume": {
      objectBody(raw, []);
      const done = await resumeSchedule(sql, id, who);
      const line = done.wasActive
        ? `ok schedule ${id} (${done.schedule}) is already active; nothing changed`
        : `ok resumed schedule ${id} (${done.schedule}): next run ${done.nextRunAt}`;
      return { status: 200, body: { ok: true, action, text: line, ...done }, line };
    }
    case "backfill": {
      const input = backfillInput(objectBody(raw, ["from", "to", "confirm"]));
      const plan = await planBackfill(sql, id, input.fromMs, input.toMs);
      const slots = plan.slots.map((slot) => ({ slot: iso(slot), messageId: messageIdFor(id, slot) }));
      const head = `schedule ${id} (${plan.schedule}), ${iso(input.fromMs)} to ${iso(input.toMs)}: ${slots.length} slot(s)`;
      const body = {
        ok: true,
        action,
        id,
        schedule: plan.schedule,
        from: iso(input.fromMs),
        to: iso(input.toMs),
        slots,
      };
      if (!input.confirm || slots.length === 0) {
        const line = `ok ${head}; ${slots.length === 0 ? "nothing to publish" : "previewed, not published"}`;
        return { status: 200, body: { ...body, text: line, published: false, confirmed: 0 }, line };
      }
      const refused = await withPublisher(context, (publisher) =>
        publishBackfill(publisher, backfillMessages(plan, plan.row.dbNowMs, context.messages)),
      );
      const { fromMs, toMs } = input;
      await settleBackfill(sql, who, { id, fromMs, toMs, slots: slots.length }, refused);
      const line = `ok published ${head}, each confirmed by the broker (trigger_source backfill)`;
      return { status: 200, body: { ...body, text: line, published: true, confirmed: slots.length }, line };
    }
  }
}
