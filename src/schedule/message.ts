/**
 * Pure: a claimed row → the message body and AMQP properties of docs/contract.md §5, §6.
 * The body is assembled as text around `workflow_data` exactly as PostgreSQL rendered it, so a
 * large document is never parsed and re-serialised on the hot path.
 */

export interface ClaimedRow {
  readonly id: number;
  readonly workflowId: number;
  readonly slotMs: number;
  /** Ignored when `cronExpression` is set (a NULL there is read as 0). */
  readonly intervalSeconds: number;
  /** Absent or NULL: an interval schedule (the optional columns of docs/contract.md §2). */
  readonly cronExpression?: string | null;
  /** IANA zone of `cronExpression`; NULL = UTC. */
  readonly timezone?: string | null;
  readonly runCount: number;
  readonly failureCount: number;
  readonly workflowName: string | null;
  /** `workflow_data::text`: JSON text, or null. */
  readonly workflowData: string | null;
}

export interface MessageProperties {
  readonly persistent: true;
  readonly mandatory: true;
  readonly contentType: "application/json";
  readonly messageId: string;
  /** AMQP timestamps are whole seconds. */
  readonly timestamp: number;
  readonly appId: "rune-scheduler";
  readonly headers: Record<string, string | number>;
}

export interface OutgoingMessage {
  readonly scheduleId: number;
  readonly messageId: string;
  readonly body: Buffer;
  readonly properties: MessageProperties;
}

export interface MessageContext {
  /** The time of the fire, by the database clock. */
  readonly nowMs: number;
  readonly missed: number;
  /** Seals workflow_data when ENCRYPTION_KEY is set. */
  readonly seal?: ((jsonText: string) => string) | null;
  /** Who fired it: the engine (default), `trigger` ("manual") or `backfill`. */
  readonly triggerSource?: TriggerSource;
  /** Replaces the slot's id (`trigger` uses {@link manualMessageId}, which no slot can have). */
  readonly messageId?: string;
}

export type TriggerSource = "scheduler" | "manual" | "backfill";

/** `<schedule_id>:<slot epoch ms>`: the same for every attempt at one slot, so consumers can dedupe. */
export function messageIdFor(scheduleId: number, slotMs: number): string {
  return `${scheduleId}:${Math.floor(slotMs)}`;
}

/** `<schedule_id>:manual:<epoch ms>`: never equal to a slot's id, which has no second colon. */
export function manualMessageId(scheduleId: number, nowMs: number): string {
  return `${scheduleId}:manual:${Math.floor(nowMs)}`;
}

/**
 * The fire's place in the schedule's count (run_count + 1): strictly increasing over the fires the
 * row records (scheduler and manual). A backfill records nothing and re-sends past slots, so it
 * has no place in that count: null, never a number a later regular fire would repeat.
 */
function runNumber(row: ClaimedRow, source: TriggerSource): number | null {
  return source === "backfill" ? null : row.runCount + 1;
}

export function buildMessage(row: ClaimedRow, context: MessageContext): OutgoingMessage {
  const messageId = context.messageId ?? messageIdFor(row.id, row.slotMs);
  const source = context.triggerSource ?? "scheduler";
  const scheduledFor = new Date(row.slotMs).toISOString();
  const data = row.workflowData ?? "null";
  const payload = context.seal
    ? `"workflow_data_encrypted":${JSON.stringify(context.seal(data))}`
    : `"workflow_data":${data}`;
  const text =
    `{"workflow_id":${row.workflowId},"schedule_id":${row.id},${payload},` +
    `"triggered_at":"${new Date(context.nowMs).toISOString()}","trigger_source":"${source}",` +
    `"workflow_name":${JSON.stringify(row.workflowName)},"scheduled_for":"${scheduledFor}",` +
    `"run_number":${runNumber(row, source)},"missed_runs":${context.missed}}`;
  const headers: Record<string, string | number> = { "x-schedule-id": row.id, "x-scheduled-for": scheduledFor };
  if (context.seal) headers["x-encryption"] = "fernet";
  headers.traceparent = newTraceparent();
  return {
    scheduleId: row.id,
    messageId,
    body: Buffer.from(text, "utf8"),
    properties: {
      persistent: true,
      mandatory: true,
      contentType: "application/json",
      messageId,
      timestamp: Math.floor(context.nowMs / 1000),
      appId: "rune-scheduler",
      headers,
    },
  };
}

/**
 * A W3C Trace Context `traceparent` (version 00, sampled): a fresh trace and span id for every
 * fire (a retry of the same slot is a new fire), so a worker's trace of the run can start from
 * it. Neither id may be all zeros (the spec calls that invalid), so such a draw is drawn again.
 */
export function newTraceparent(
  fill: (bytes: Uint8Array) => unknown = (bytes) => crypto.getRandomValues(bytes),
): string {
  const bytes = new Uint8Array(24);
  const traceId = bytes.subarray(0, 16);
  const spanId = bytes.subarray(16);
  const zero = (part: Uint8Array) => part.every((byte) => byte === 0);
  do fill(bytes);
  while (zero(traceId) || zero(spanId));
  return `00-${Buffer.from(traceId).toString("hex")}-${Buffer.from(spanId).toString("hex")}-01`;
}
