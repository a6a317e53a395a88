/**
 * Pure: a claimed row → the message body and AMQP properties of docs/contract.md §5, §6.
 * The body is assembled as text around `workflow_data` exactly as PostgreSQL rendered it, so a
 * large document is never parsed and re-serialised on the hot path.
 */

export interface ClaimedRow {
  readonly id: number;
  readonly workflowId: number;
  readonly slotMs: number;
  /** Ignored when `cronExpression` is set (a NULL there is read as 0); NULL on a one-shot. */
  readonly intervalSeconds: number | null;
  /** Absent or NULL: an interval schedule (the optional columns of docs/contract.md §2). */
  readonly cronExpression?: string | null;
  /** IANA zone of `cronExpression`; NULL = UTC. */
  readonly timezone?: string | null;
  readonly runCount: number;
  readonly failureCount: number;
  readonly workflowName: string | null;
  /** `workflow_data::text`: JSON text, or null. */
  readonly workflowData: string | null;
  /**
   * The optional columns of docs/contract.md §11, present on a row only when set (absent:
   * today's behaviour). `endsAtMs` is `ends_at` as epoch ms.
   */
  readonly misfirePolicy?: string;
  readonly misfireGraceSeconds?: number;
  readonly endsAtMs?: number;
  readonly maxRuns?: number;
  readonly jitterSeconds?: number;
}

interface MessageProperties {
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

interface MessageContext {
  /** The time of the fire, by the database clock. */
  readonly nowMs: number;
  readonly missed: number;
  /** Seals workflow_data when ENCRYPTION_KEY is set. */
  readonly seal?: ((jsonText: string) => string) | null;
  /** Who fired it: the engine (default), `trigger` ("manual") or `backfill`. */
  readonly triggerSource?: TriggerSource;
  /** Replaces the slot's id (`trigger` uses {@link manualMessageId}, which no slot can have). */
  readonly messageId?: string;
  /** A jittered slot's fire time (slot + offset): the body's `due_at`. Absent: no `due_at`. */
  readonly dueMs?: number;
}

type TriggerSource = "scheduler" | "manual" | "backfill";

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

/**
 * `toISOString` of the last time asked for: a batch shares one fire time, and a burst usually
 * one slot, so most fires reuse the text instead of formatting it again.
 */
function lastIso() {
  let ms = Number.NaN;
  let text = "";
  return {
    of(at: number): string {
      if (at !== ms) {
        text = new Date(at).toISOString();
        ms = at;
      }
      return text;
    },
  };
}
const isoSlot = lastIso();
const isoNow = lastIso();

export function buildMessage(row: ClaimedRow, context: MessageContext): OutgoingMessage {
  const messageId = context.messageId ?? messageIdFor(row.id, row.slotMs);
  const source = context.triggerSource ?? "scheduler";
  const scheduledFor = isoSlot.of(row.slotMs);
  const data = row.workflowData ?? "null";
  const payload = context.seal
    ? `"workflow_data_encrypted":${JSON.stringify(context.seal(data))}`
    : `"workflow_data":${data}`;
  const text =
    `{"workflow_id":${row.workflowId},"schedule_id":${row.id},${payload},` +
    `"triggered_at":"${isoNow.of(context.nowMs)}","trigger_source":"${source}",` +
    `"workflow_name":${JSON.stringify(row.workflowName)},"scheduled_for":"${scheduledFor}",` +
    `"run_number":${runNumber(row, source)},"missed_runs":${context.missed}` +
    (context.dueMs === undefined ? "}" : `,"due_at":"${new Date(context.dueMs).toISOString()}"}`);
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

/** Random bytes for {@link newTraceparent}, drawn from the system in blocks of many ids at once. */
const ID_BYTES = 24;
const pool = Buffer.alloc(ID_BYTES * 512);
let poolOffset = pool.length;

/**
 * A W3C Trace Context `traceparent` (version 00, sampled): a fresh trace and span id for every
 * fire (a retry of the same slot is a new fire), so a worker's trace of the run can start from
 * it. Neither id may be all zeros (the spec calls that invalid), so such a draw is drawn again.
 * `fill` replaces the random source (each call fills one id's 24 bytes); without it the ids come
 * from a pool refilled by `crypto.getRandomValues`, one system call per 512 fires.
 */
export function newTraceparent(fill?: (bytes: Uint8Array) => unknown): string {
  if (fill !== undefined) {
    const bytes = Buffer.alloc(ID_BYTES);
    do fill(bytes);
    while (isZero(bytes, 0, 16) || isZero(bytes, 16, ID_BYTES));
    return `00-${bytes.toString("hex", 0, 16)}-${bytes.toString("hex", 16, ID_BYTES)}-01`;
  }
  for (;;) {
    if (poolOffset === pool.length) {
      crypto.getRandomValues(pool);
      poolOffset = 0;
    }
    const at = poolOffset;
    poolOffset += ID_BYTES;
    if (isZero(pool, at, at + 16) || isZero(pool, at + 16, at + ID_BYTES)) continue;
    return `00-${pool.toString("hex", at, at + 16)}-${pool.toString("hex", at + 16, at + ID_BYTES)}-01`;
  }
}

function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}
