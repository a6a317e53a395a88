/**
 * A ready broker link: one connection with one confirm channel, its state (closed, retired,
 * blocked), what it learns from the broker (its message size limit), and the queue declared
 * again when it vanishes. Publishing a batch: src/rabbitmq/publish.ts; the decisions:
 * link-rules.ts.
 */
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from "amqplib";
import type { Publisher } from "../engine/ports.ts";
import { blockedReason, isPublishRefusal, refusedSizeLimit } from "./link-rules.ts";
import { blockedText, type LinkState, publishBatch } from "./publish.ts";
import { queueRecoverer } from "./queue-recovery.ts";
import { closeConnection, cutSocket } from "./socket.ts";

export { CONFIRM_TIMEOUT_MS, queueRecovery, refusedSizeLimit, silenceCheck } from "./link-rules.ts";

export interface BrokerLink extends Publisher {
  /** Set once the connection is gone (or retired); a new link must be made. */
  readonly closedReason: string | null;
  /** True while the broker applies flow control (memory or disk alarm). */
  readonly blocked: boolean;
}

export interface LinkParts {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  readonly queue: string;
  /** Declares the queue again (it was deleted under us). */
  readonly redeclareQueue: () => Promise<unknown>;
  /** Called when the link is lost, retired, blocked or unblocked (not when the scheduler closes it). */
  readonly onChange?: () => void;
  /** The node (a redacted URL), for the lines about it. */
  readonly where?: string | null;
  /** The wall clock (epoch ms); Date.now unless a test passes its own. */
  readonly now?: () => number;
}

export function brokerLink(parts: LinkParts): BrokerLink {
  const { connection, channel, queue, onChange } = parts;
  const now = parts.now ?? Date.now;
  let closedReason: string | null = null;
  let retiredReason: string | null = null;
  let refused: string | null = null;
  let blocked: { reason: string } | null = null;
  let unblockedAtMs = Number.NEGATIVE_INFINITY;
  let maxBodyBytes: number | null = null;
  const inFlight = new Set<(reason: string) => void>();
  const returned = new Map<string, { code: number; text: string }>();

  const markClosed = (reason: string, notify = true) => {
    if (closedReason !== null) return;
    closedReason = reason;
    for (const abandon of inFlight) abandon(reason);
    if (notify) onChange?.();
  };
  /** Closes a retired link once no batch waits on it any more. */
  const closeIfIdle = () => {
    if (retiredReason !== null && inFlight.size === 0 && closedReason === null) {
      markClosed(retiredReason, false);
      void closeConnection(connection);
    }
  };
  connection.on("error", (error: Error) => markClosed(`connection error: ${error.message}`));
  connection.on("close", () => markClosed("connection closed"));
  connection.on("blocked", (reason?: string) => {
    blocked = { reason: blockedReason(reason) };
    // The batches in flight are held by the broker for as long as the alarm lasts: give them
    // back now, so their claim transactions end and their rows stay due (docs/design.md §16).
    for (const abandon of inFlight) abandon(blockedText(state));
    onChange?.();
  });
  connection.on("unblocked", () => {
    blocked = null;
    unblockedAtMs = now();
    onChange?.();
  });
  channel.on("error", (error: Error) => {
    // A message over the broker's max_message_size closes the channel: learn the limit, so the
    // engine fails that row by size next time instead of losing the channel on it again.
    maxBodyBytes = refusedSizeLimit(error.message) ?? maxBodyBytes;
    if (isPublishRefusal(error.message)) refused = error.message;
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

  const recoverQueue = queueRecoverer({
    queue,
    redeclareQueue: parts.redeclareQueue,
    now,
    closedReason: () => closedReason,
  });

  const state: LinkState = {
    channel,
    queue,
    now,
    unusable: () => closedReason ?? retiredReason,
    closed: () => closedReason,
    blocked: () => blocked,
    unblockedAtMs: () => unblockedAtMs,
    returned,
    inFlight,
    markClosed,
    cut: (reason) => cutSocket(connection, reason),
    retire(reason) {
      if (retiredReason !== null || closedReason !== null) return;
      retiredReason = reason;
      onChange?.();
      closeIfIdle();
    },
    recoverQueue,
  };

  return {
    async publishBatch(messages) {
      try {
        return await publishBatch(state, messages);
      } finally {
        closeIfIdle();
      }
    },
    where: parts.where ?? null,
    get connected() {
      return closedReason === null && retiredReason === null;
    },
    get closedReason() {
      return closedReason ?? retiredReason;
    },
    get blocked() {
      return blocked !== null;
    },
    get blockedReason() {
      return blocked?.reason ?? null;
    },
    get refused() {
      return refused;
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
