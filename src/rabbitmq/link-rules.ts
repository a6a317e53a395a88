/**
 * The broker link's decisions, pure: when a batch waiting for confirms is given up, what a
 * returned (NO_ROUTE) batch means, what the broker's refusals say. src/rabbitmq/link.ts and
 * publish.ts act on them.
 */

/**
 * A batch that hears no confirm for this long counts as unknown (the rows stay due) and the link
 * is reset. Silence, not total time: a large batch on a slow link that keeps confirming goes on.
 */
export const CONFIRM_TIMEOUT_MS = 10_000;
/**
 * However the broker behaves, a batch waits no longer than this for its confirms: what is still
 * unconfirmed then counts as unknown, so no claim transaction stays open longer than the claim's
 * and the commit's statement deadlines plus this (docs/design.md §16).
 */
export const PUBLISH_MAX_MS = 60_000;

type Verdict = { abandon: false; recheckInMs: number } | { abandon: true; why: "blocked" | "silent" | "too long" };

/**
 * What a batch waiting for confirms does at a check: go on waiting (check again in
 * `recheckInMs`) or give up. A blocked link (flow control: a memory or disk alarm) holds our
 * publishes for as long as the alarm lasts, so the batch is given back at once: its rows stay
 * due and its claim transaction ends, rather than holding row locks for the alarm's length;
 * the link stays, to fire again the moment it is unblocked. A silent link is cut. Silence counts
 * from the latest of what was last heard and the end of a block.
 */
export function silenceCheck(at: {
  nowMs: number;
  publishedAtMs: number;
  lastHeardMs: number;
  blocked: boolean;
  unblockedAtMs: number;
}): Verdict {
  if (at.blocked) return { abandon: true, why: "blocked" };
  const tooLongInMs = at.publishedAtMs + PUBLISH_MAX_MS - at.nowMs;
  if (tooLongInMs <= 0) return { abandon: true, why: "too long" };
  const silentMs = at.nowMs - Math.max(at.lastHeardMs, at.unblockedAtMs);
  return silentMs < CONFIRM_TIMEOUT_MS
    ? { abandon: false, recheckInMs: Math.min(CONFIRM_TIMEOUT_MS - silentMs, tooLongInMs) }
    : { abandon: true, why: "silent" };
}

/** The reason a connection.blocked gives (`low on memory`), as the operator's line names it. */
export function blockedReason(brokerReason: string | undefined): string {
  const text = brokerReason ?? "";
  const memory = /memory/i.test(text);
  const disk = /disk/i.test(text);
  if (memory && disk) return "memory and disk alarm";
  if (memory) return "memory alarm";
  if (disk) return "disk alarm";
  return text === "" ? "resource alarm" : text;
}

/**
 * A channel closed with 403 ACCESS_REFUSED while publishing: this user may not write to the
 * queue (the exchange it publishes through). Retrying cannot cure it, so at start-up it ends
 * the start like a refused login.
 */
export function isPublishRefusal(closeText: string): boolean {
  return /\b403\b|ACCESS[-_]REFUSED/.test(closeText);
}

/**
 * A nack says the broker did not take the message, never why: a quorum queue's node without a
 * leader (an election, a lost quorum) nacks every publish, as a queue full with
 * `x-overflow: reject-publish` does. Neither is the row's fault and both pass: the row is left
 * due, like an unknown outcome, and fires again (same message id) after the engine's back-off.
 */
export const NACKED = "nacked by the broker (no quorum-queue leader, queue full with reject-publish, or broker error)";

/** RabbitMQ's reply to a message that no queue took; on the default exchange: the queue is missing. */
export const NO_ROUTE = 312;
/** A queue missing again this soon after we declared it is not ours to keep declaring. */
const REDECLARE_GUARD_MS = 5_000;

/**
 * The broker's own limit, from the text of the channel close it sends for a larger message
 * (`PRECONDITION_FAILED - message size 20000000 is larger than configured max size 16777216`).
 */
export function refusedSizeLimit(closeText: string): number | null {
  // "configured max size" under max_message_size; "max size" at the broker's hard limit.
  const match = /larger than (?:configured )?max size (\d+)/.exec(closeText);
  return match ? Number(match[1]) : null;
}

/**
 * What to do about a batch returned NO_ROUTE (its queue is missing), given when it was published
 * and when this link last declared the queue: declared since the batch went out, the batch only
 * met the same disappearance (retry it); missing again right after a declaration, something
 * deletes it on purpose (fail the fires); otherwise declare it again.
 */
export function queueRecovery(at: {
  publishedAtMs: number;
  declaredAtMs: number;
  nowMs: number;
}): "already declared" | "vanished again" | "declare" {
  if (at.publishedAtMs < at.declaredAtMs) return "already declared";
  if (at.nowMs - at.declaredAtMs < REDECLARE_GUARD_MS) return "vanished again";
  return "declare";
}
