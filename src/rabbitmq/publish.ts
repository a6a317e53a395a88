/**
 * One batch on a confirm channel: publish every message, wait for the broker's answers, and
 * return a definite outcome per message (confirmed, failed, unknown, or retry once a missing
 * queue is declared again). Batches of several claim lanes may be in flight on one link at once.
 */
import type { ConfirmChannel } from "amqplib";
import type { OutgoingMessage } from "../schedule/message.ts";
import type { PublishOutcome } from "../schedule/plan.ts";
import { CONFIRM_TIMEOUT_MS, NACKED, NO_ROUTE, PUBLISH_MAX_MS, silenceCheck } from "./link-rules.ts";
import { waitForDrain } from "./socket.ts";

/** What a batch needs from its link (src/rabbitmq/link.ts). */
export interface LinkState {
  readonly channel: ConfirmChannel;
  readonly queue: string;
  /** The wall clock, for the deadlines. */
  readonly now: () => number;
  /** Why no more may be published on this link (closed, or retired), or null. */
  unusable(): string | null;
  blocked(): { reason: string } | null;
  unblockedAtMs(): number;
  /** Messages returned by the broker, by message id: the return comes before the confirm. */
  readonly returned: Map<string, { code: number; text: string }>;
  /** Batches waiting for confirms; each is settled "unknown" if the link drops. */
  readonly inFlight: Set<(reason: string) => void>;
  /** The link is gone (or its state unknowable): every batch in flight is given up. */
  markClosed(reason: string): void;
  cut(reason: string): void;
  /** The node refused messages: publish no more on it, close it once the batches in flight settle. */
  retire(reason: string): void;
  recoverQueue(why: string, publishedAtMs: number): Promise<PublishOutcome>;
}

/** Publishes `messages` and waits for their outcomes. */
export async function publishBatch(link: LinkState, messages: readonly OutgoingMessage[]): Promise<PublishOutcome[]> {
  if (messages.length === 0) return [];
  const refusal = link.unusable() ?? (link.blocked() ? blockedText(link) : null);
  if (refusal !== null) return messages.map(() => ({ status: "unknown", reason: refusal }));
  const outcomes: (PublishOutcome | undefined)[] = new Array(messages.length);
  let pending = messages.length;
  const publishedAtMs = link.now();
  let lastHeardMs = publishedAtMs;
  const noRoute: number[] = [];
  let nacked = false;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const settle = (index: number, outcome: PublishOutcome) => {
    if (outcomes[index] !== undefined) return;
    outcomes[index] = outcome;
    lastHeardMs = link.now();
    if (--pending === 0) finish();
  };
  let abandoned = false;
  const abandon = (reason: string) => {
    abandoned = true;
    for (let i = 0; i < messages.length; i++) settle(i, { status: "unknown", reason });
  };
  link.inFlight.add(abandon);
  // The deadline is about silence, not the batch's size: every confirm (and every drain of the
  // socket) is progress and pushes it back, so a slow link that moves is not cut before
  // PUBLISH_MAX_MS. A block gives the batch back at once (see silenceCheck).
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    const verdict = silenceCheck({
      nowMs: link.now(),
      publishedAtMs,
      lastHeardMs,
      blocked: link.blocked() !== null,
      unblockedAtMs: link.unblockedAtMs(),
    });
    if (!verdict.abandon) {
      timer = setTimeout(check, verdict.recheckInMs);
      return;
    }
    if (verdict.why === "blocked") return abandon(blockedText(link));
    const why =
      verdict.why === "silent"
        ? `no confirm from the broker for ${CONFIRM_TIMEOUT_MS} ms`
        : `confirms still missing after ${PUBLISH_MAX_MS} ms`;
    abandon(why);
    // The channel's state is unknowable: cut it, so the next batch starts on a fresh one.
    link.markClosed("confirm timeout");
    link.cut("confirm timeout");
  };
  timer = setTimeout(check, CONFIRM_TIMEOUT_MS);
  try {
    for (let i = 0; i < messages.length && link.unusable() === null && !abandoned; i++) {
      const message = messages[i]!;
      let writable: boolean;
      try {
        writable = link.channel.publish("", link.queue, message.body, message.properties, (error) => {
          const returnedWhy = link.returned.get(message.messageId);
          if (returnedWhy !== undefined) link.returned.delete(message.messageId);
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
        link.markClosed(`publish failed: ${(error as Error).message}`);
        break;
      }
      // Bounded in-flight bytes: wait for the socket to drain rather than buffer without end.
      if (!writable) {
        await waitForDrain(link.channel, () => link.unusable() !== null || abandoned);
        lastHeardMs = link.now();
      }
    }
    const unusable = link.unusable();
    if (unusable !== null) abandon(unusable);
    await done;
  } finally {
    clearTimeout(timer);
    link.inFlight.delete(abandon);
  }
  // The node refused to take the messages: it may be in a minority or without a queue leader
  // while another node is not, so the next attempt connects afresh, to the next node. Retired,
  // not closed: a batch of the other lane still in flight on it keeps its confirms.
  if (nacked) link.retire(NACKED);
  if (noRoute.length > 0) {
    const recovered = await link.recoverQueue((outcomes[noRoute[0]!] as { reason: string }).reason, publishedAtMs);
    for (const i of noRoute) outcomes[i] = recovered;
  }
  return outcomes as PublishOutcome[];
}

/** What a batch given back because of flow control says (its outcomes' reason). */
export function blockedText(link: Pick<LinkState, "blocked">): string {
  return `given back: RabbitMQ blocks publishing (${link.blocked()?.reason ?? "resource alarm"})`;
}
