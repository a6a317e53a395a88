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
  /** Why the link is gone, or null (a retired link is not gone: its batches keep their confirms). */
  closed(): string | null;
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

/** One batch's answers so far: each message's outcome, and when the broker was last heard. */
interface Tally {
  readonly outcomes: (PublishOutcome | undefined)[];
  lastHeardMs: number;
  abandoned: boolean;
  nacked: boolean;
  readonly noRoute: number[];
  settle(index: number, outcome: PublishOutcome): void;
  /** Every outcome still missing counts as unknown, for `reason`. */
  abandon(reason: string): void;
  readonly done: Promise<void>;
}

function tally(link: LinkState, count: number): Tally {
  let pending = count;
  let finish!: () => void;
  const t: Tally = {
    outcomes: new Array(count),
    lastHeardMs: link.now(),
    abandoned: false,
    nacked: false,
    noRoute: [],
    done: new Promise<void>((resolve) => (finish = resolve)),
    settle(index, outcome) {
      if (t.outcomes[index] !== undefined) return;
      t.outcomes[index] = outcome;
      t.lastHeardMs = link.now();
      if (--pending === 0) finish();
    },
    abandon(reason) {
      t.abandoned = true;
      for (let i = 0; i < count; i++) t.settle(i, { status: "unknown", reason });
    },
  };
  return t;
}

/**
 * The broker's answer to one message. amqplib calls back with "message nacked" for a real nack,
 * and with "channel closed" for every message still unconfirmed when the channel goes: that one
 * is unknown. The broker sends basic.return before the ack of the same message, so a returned
 * message is known to be unroutable by the time its confirm callback runs.
 */
function answer(t: Tally, index: number, error: Error | null, returnedWhy: { code: number; text: string } | undefined) {
  if (error && error.message !== "message nacked") return t.settle(index, { status: "unknown", reason: error.message });
  if (error) {
    t.nacked = true;
    return t.settle(index, { status: "unknown", reason: NACKED });
  }
  if (returnedWhy?.code === NO_ROUTE) {
    t.noRoute.push(index);
    return t.settle(index, { status: "failed", reason: returnedWhy.text }); // replaced once the queue is dealt with
  }
  if (returnedWhy !== undefined)
    return t.settle(index, { status: "failed", reason: `returned by the broker as unroutable: ${returnedWhy.text}` });
  t.settle(index, { status: "confirmed" });
}

/**
 * Watches a batch waiting for confirms (see silenceCheck): gives it back under a block, gives it
 * up and cuts the link after silence or PUBLISH_MAX_MS. Returns the stop.
 */
function watchConfirms(link: LinkState, t: Tally, publishedAtMs: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    const verdict = silenceCheck({
      nowMs: link.now(),
      publishedAtMs,
      lastHeardMs: t.lastHeardMs,
      blocked: link.blocked() !== null,
      unblockedAtMs: link.unblockedAtMs(),
    });
    if (!verdict.abandon) {
      timer = setTimeout(check, verdict.recheckInMs);
      return;
    }
    if (verdict.why === "blocked") return t.abandon(blockedText(link));
    t.abandon(
      verdict.why === "silent"
        ? `no confirm from the broker for ${CONFIRM_TIMEOUT_MS} ms`
        : `confirms still missing after ${PUBLISH_MAX_MS} ms`,
    );
    // The channel's state is unknowable: cut it, so the next batch starts on a fresh one.
    link.markClosed("confirm timeout");
    link.cut("confirm timeout");
  };
  timer = setTimeout(check, CONFIRM_TIMEOUT_MS);
  return () => clearTimeout(timer);
}

/**
 * Writes the messages, waiting for the socket to drain when its buffer is full, until the link
 * cannot take more; returns how many were written.
 */
async function writeAll(link: LinkState, t: Tally, messages: readonly OutgoingMessage[]): Promise<number> {
  let i = 0;
  for (; i < messages.length && link.unusable() === null && !t.abandoned; i++) {
    const index = i; // the callback runs later: not the loop's own variable
    const message = messages[index]!;
    let writable: boolean;
    try {
      writable = link.channel.publish("", link.queue, message.body, message.properties, (error) => {
        const returnedWhy = link.returned.get(message.messageId);
        if (returnedWhy !== undefined) link.returned.delete(message.messageId);
        answer(t, index, error, returnedWhy);
      });
    } catch (error) {
      // amqplib throws when the channel closed under us: the link is gone, not the message.
      link.markClosed(`publish failed: ${(error as Error).message}`);
      return i;
    }
    // Bounded in-flight bytes: wait for the socket to drain rather than buffer without end.
    if (!writable) {
      await waitForDrain(link.channel, () => link.unusable() !== null || t.abandoned);
      t.lastHeardMs = link.now();
    }
  }
  return i;
}

/** Publishes `messages` and waits for their outcomes. */
export async function publishBatch(link: LinkState, messages: readonly OutgoingMessage[]): Promise<PublishOutcome[]> {
  if (messages.length === 0) return [];
  const refusal = link.unusable() ?? (link.blocked() ? blockedText(link) : null);
  if (refusal !== null) return messages.map(() => ({ status: "unknown", reason: refusal }));
  const t = tally(link, messages.length);
  const publishedAtMs = link.now();
  link.inFlight.add(t.abandon);
  // The deadline is about silence, not the batch's size: every confirm (and every drain of the
  // socket) is progress and pushes it back, so a slow link that moves is not cut before
  // PUBLISH_MAX_MS. A block gives the batch back at once (the link calls t.abandon).
  const stopWatching = watchConfirms(link, t, publishedAtMs);
  try {
    const written = await writeAll(link, t, messages);
    const closed = link.closed();
    if (closed !== null) t.abandon(closed);
    // Retired by the other lane's nack meanwhile: what was written keeps its confirms.
    for (let i = written; i < messages.length; i++)
      t.settle(i, { status: "unknown", reason: link.unusable() ?? "not sent" });
    await t.done;
  } finally {
    stopWatching();
    link.inFlight.delete(t.abandon);
  }
  // The node refused to take the messages: it may be in a minority or without a queue leader
  // while another node is not, so the next attempt connects afresh, to the next node. Retired,
  // not closed: a batch of the other lane still in flight on it keeps its confirms.
  if (t.nacked) link.retire(NACKED);
  if (t.noRoute.length > 0) {
    const why = (t.outcomes[t.noRoute[0]!] as { reason: string }).reason;
    const recovered = await link.recoverQueue(why, publishedAtMs);
    for (const i of t.noRoute) t.outcomes[i] = recovered;
  }
  return t.outcomes as PublishOutcome[];
}

/** What a batch given back because of flow control says (its outcomes' reason). */
export function blockedText(link: Pick<LinkState, "blocked">): string {
  return `given back: RabbitMQ blocks publishing (${link.blocked()?.reason ?? "resource alarm"})`;
}
