/**
 * A ready broker link: one connection with one confirm channel, and batch publishing that reports
 * a definite outcome per message (confirmed, failed, unknown, or retry once a missing queue is
 * declared again). Batches of several claim lanes may be in flight on it at once.
 */
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from "amqplib";
import type { Publisher } from "../engine/ports.ts";
import type { OutgoingMessage } from "../schedule/message.ts";
import type { PublishOutcome } from "../schedule/plan.ts";

/**
 * A batch that hears no confirm for this long counts as unknown (the rows stay due) and the link
 * is reset. Silence, not total time: a large batch on a slow link that keeps confirming goes on.
 */
export const CONFIRM_TIMEOUT_MS = 10_000;
/** A close handshake not finished by then is cut: a dead or stalled link never sends CloseOk. */
const CLOSE_TIMEOUT_MS = 2_000;

/**
 * What a batch waiting for confirms does at a silence check: go on waiting (check again in
 * `recheckInMs`) or give up. A blocked link is alive, not silent: the broker holds our publishes
 * until its alarm clears and then confirms them, so giving the batch up would publish it twice.
 * Silence counts from the latest of what was last heard and the end of a block, so a batch held
 * through a long block gets the whole deadline after it lifts.
 */
export function silenceCheck(at: {
  nowMs: number;
  lastHeardMs: number;
  blocked: boolean;
  unblockedAtMs: number;
}): { abandon: false; recheckInMs: number } | { abandon: true } {
  if (at.blocked) return { abandon: false, recheckInMs: CONFIRM_TIMEOUT_MS };
  const silentMs = at.nowMs - Math.max(at.lastHeardMs, at.unblockedAtMs);
  return silentMs < CONFIRM_TIMEOUT_MS
    ? { abandon: false, recheckInMs: CONFIRM_TIMEOUT_MS - silentMs }
    : { abandon: true };
}

export interface BrokerLink extends Publisher {
  /** Set once the connection is gone; a new link must be made. */
  readonly closedReason: string | null;
  /** True while the broker applies flow control (memory or disk alarm). */
  readonly blocked: boolean;
}

/**
 * Ends the socket under an amqplib connection with an error, which amqplib treats as a lost
 * socket: it stops its heartbeat timers and emits "error" and "close". (A polite close waits for
 * a CloseOk that a dead link never sends, and keeps the socket and its buffers meanwhile.)
 */
function cutSocket(connection: ChannelModel, reason: string): void {
  const internal = connection as unknown as { connection?: { stream?: { destroy(error?: Error): void } } };
  internal.connection?.stream?.destroy(new Error(reason));
}

async function closeConnection(connection: ChannelModel): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cut = new Promise<void>((resolve) => {
    timer = setTimeout(() => resolve(cutSocket(connection, "close handshake timed out")), CLOSE_TIMEOUT_MS);
  });
  try {
    await Promise.race([connection.close().catch(() => {}), cut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A nack says the broker did not take the message, never why: a quorum queue's node without a
 * leader (an election, a lost quorum) nacks every publish, as a queue full with
 * `x-overflow: reject-publish` does. Neither is the row's fault and both pass: the row is left
 * due, like an unknown outcome, and fires again (same message id) after the engine's back-off.
 */
const NACKED = "nacked by the broker (no quorum-queue leader, queue full with reject-publish, or broker error)";

/** RabbitMQ's reply to a message that no queue took; on the default exchange: the queue is missing. */
const NO_ROUTE = 312;
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

export function brokerLink(
  connection: ChannelModel,
  channel: ConfirmChannel,
  queue: string,
  redeclareQueue: () => Promise<unknown>,
  onChange?: () => void,
  where: string | null = null,
): BrokerLink {
  let closedReason: string | null = null;
  let blocked = false;
  let unblockedAtMs = Number.NEGATIVE_INFINITY;
  let maxBodyBytes: number | null = null;
  let declaredAt = Number.NEGATIVE_INFINITY;
  let redeclaring: Promise<PublishOutcome> | null = null;
  /** Batches waiting for confirms; each is settled "unknown" if the link drops. */
  const inFlight = new Set<(reason: string) => void>();
  const returned = new Map<string, { code: number; text: string }>();

  const markClosed = (reason: string, notify = true) => {
    if (closedReason !== null) return;
    closedReason = reason;
    for (const abandon of inFlight) abandon(reason);
    if (notify) onChange?.();
  };
  connection.on("error", (error: Error) => markClosed(`connection error: ${error.message}`));
  connection.on("close", () => markClosed("connection closed"));
  connection.on("blocked", () => {
    blocked = true;
    onChange?.();
  });
  connection.on("unblocked", () => {
    blocked = false;
    unblockedAtMs = Date.now();
    onChange?.();
  });
  channel.on("error", (error: Error) => {
    // A message over the broker's max_message_size closes the channel: learn the limit, so the
    // engine fails that row by size next time instead of losing the channel on it again.
    maxBodyBytes = refusedSizeLimit(error.message) ?? maxBodyBytes;
    markClosed(`channel error: ${error.message}`);
  });
  channel.on("close", () => markClosed("channel closed"));
  // The broker sends basic.return before the ack of the same message, so a returned message
  // is known to be unroutable by the time its confirm callback runs.
  channel.on("return", (message: ConsumeMessage) => {
    const id = message.properties.messageId as string | undefined;
    const fields = message.fields as unknown as { replyCode?: number; replyText?: string };
    if (id)
      returned.set(id, {
        code: fields.replyCode ?? 0,
        text: `${fields.replyCode ?? ""} ${fields.replyText ?? "returned"}`.trim(),
      });
  });

  /**
   * NO_ROUTE on the default exchange means the queue is gone (deleted under us): the
   * environment's fault, not the rows'. Declare it again and let the rows be claimed again;
   * only a queue that cannot be declared (or vanishes again at once) fails the fires.
   */
  async function recoverQueue(why: string, publishedAtMs: number): Promise<PublishOutcome> {
    // Batches in flight at once (claim lanes) share one declaration: a batch published before
    // the queue was last declared was returned because of the same disappearance.
    if (redeclaring !== null) return redeclaring;
    const decision = queueRecovery({ publishedAtMs, declaredAtMs: declaredAt, nowMs: Date.now() });
    if (decision === "already declared")
      return { status: "retry", reason: `queue "${queue}" was missing (${why}) and has been declared again` };
    if (decision === "vanished again") {
      return {
        status: "failed",
        reason: `returned by the broker as unroutable: ${why}; queue "${queue}" vanished again right after it was declared`,
      };
    }
    redeclaring = (async (): Promise<PublishOutcome> => {
      try {
        await redeclareQueue();
        declaredAt = Date.now();
        return { status: "retry", reason: `queue "${queue}" was missing (${why}) and has been declared again` };
      } catch (error) {
        // The link went while declaring: an outage, not the rows' fault; they fire again.
        if (closedReason !== null) return { status: "unknown", reason: closedReason };
        return {
          status: "failed",
          reason: `returned by the broker as unroutable: ${why}; declaring queue "${queue}" failed: ${(error as Error).message}`,
        };
      }
    })().finally(() => (redeclaring = null));
    return redeclaring;
  }

  async function publishBatch(messages: readonly OutgoingMessage[]): Promise<PublishOutcome[]> {
    const outcomes: (PublishOutcome | undefined)[] = new Array(messages.length);
    if (messages.length === 0) return [];
    if (closedReason !== null) return messages.map(() => ({ status: "unknown", reason: closedReason! }));
    let pending = messages.length;
    const publishedAtMs = Date.now();
    let lastHeardMs = publishedAtMs;
    const noRoute: number[] = [];
    let nacked = false;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const settle = (index: number, outcome: PublishOutcome) => {
      if (outcomes[index] !== undefined) return;
      outcomes[index] = outcome;
      lastHeardMs = Date.now();
      if (--pending === 0) finish();
    };
    let abandoned = false;
    const abandon = (reason: string) => {
      abandoned = true;
      for (let i = 0; i < messages.length; i++) settle(i, { status: "unknown", reason });
    };
    inFlight.add(abandon);
    // The deadline is about silence, not the batch's size: every confirm (and every drain of
    // the socket) is progress and pushes it back, so a slow link that moves is never cut.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const checkSilence = () => {
      const verdict = silenceCheck({ nowMs: Date.now(), lastHeardMs, blocked, unblockedAtMs });
      if (!verdict.abandon) {
        timer = setTimeout(checkSilence, verdict.recheckInMs);
        return;
      }
      abandon(`no confirm from the broker for ${CONFIRM_TIMEOUT_MS} ms`);
      // The link is silent and the channel's state unknowable: cut it, so the next batch starts
      // on a fresh one.
      markClosed("confirm timeout");
      cutSocket(connection, "confirm timeout");
    };
    timer = setTimeout(checkSilence, CONFIRM_TIMEOUT_MS);
    try {
      for (let i = 0; i < messages.length && closedReason === null && !abandoned; i++) {
        const message = messages[i]!;
        let writable: boolean;
        try {
          writable = channel.publish("", queue, message.body, message.properties, (error) => {
            const returnedWhy = returned.get(message.messageId);
            if (returnedWhy !== undefined) returned.delete(message.messageId);
            // amqplib calls back with "message nacked" for a real nack, and with "channel closed"
            // for every message still unconfirmed when the channel goes: that one is unknown.
            if (error && error.message !== "message nacked") settle(i, { status: "unknown", reason: error.message });
            else if (error) {
              nacked = true;
              settle(i, { status: "unknown", reason: NACKED });
            } else if (returnedWhy?.code === NO_ROUTE) {
              noRoute.push(i);
              settle(i, { status: "failed", reason: returnedWhy.text }); // replaced below
            } else if (returnedWhy !== undefined) {
              settle(i, { status: "failed", reason: `returned by the broker as unroutable: ${returnedWhy.text}` });
            } else settle(i, { status: "confirmed" });
          });
        } catch (error) {
          // amqplib throws when the channel closed under us: the link is gone, not the message.
          markClosed(`publish failed: ${(error as Error).message}`);
          break;
        }
        // Bounded in-flight bytes: wait for the socket to drain rather than buffer without end.
        if (!writable) {
          await waitForDrain(channel, () => closedReason !== null || abandoned);
          lastHeardMs = Date.now();
        }
      }
      if (closedReason !== null) abandon(closedReason);
      await done;
    } finally {
      clearTimeout(timer);
      inFlight.delete(abandon);
    }
    // The node refused to take the messages: it may be in a minority or without a queue leader
    // while another node is not, so the next attempt connects afresh, to the next node.
    if (nacked && closedReason === null) {
      markClosed(NACKED);
      void closeConnection(connection);
    }
    if (noRoute.length > 0) {
      const recovered = await recoverQueue((outcomes[noRoute[0]!] as { reason: string }).reason, publishedAtMs);
      for (const i of noRoute) outcomes[i] = recovered;
    }
    return outcomes as PublishOutcome[];
  }

  return {
    publishBatch,
    where,
    get connected() {
      return closedReason === null;
    },
    get closedReason() {
      return closedReason;
    },
    get blocked() {
      return blocked;
    },
    get maxBodyBytes() {
      return maxBodyBytes;
    },
    async close() {
      markClosed("closed by the scheduler", false);
      await closeConnection(connection);
    },
  };
}

function waitForDrain(channel: ConfirmChannel, isClosed: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (isClosed()) return resolve();
    const poll = setInterval(() => isClosed() && done(), 100);
    const done = () => {
      clearInterval(poll);
      channel.off("drain", done);
      resolve();
    };
    channel.once("drain", done);
  });
}
