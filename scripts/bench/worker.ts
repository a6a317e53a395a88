/**
 * A worker draining the queue as a deployment's would: its own connection, prefetch 1000, and a
 * manual ack per message. It runs in the benchmark's process, so its CPU is counted as neither
 * the scheduler's nor the broker's.
 */
import amqp from "amqplib";
import { MQ_URL } from "./env.ts";

export const WORKER_PREFETCH = 1_000;

export interface Worker {
  /** Distinct message ids received so far. */
  received(): number;
  /** Deliveries of an id already received (at-least-once across a crash would show here). */
  duplicates(): number;
  stop(): Promise<void>;
}

export async function startWorker(queue: string): Promise<Worker> {
  const connection = await amqp.connect(MQ_URL, { noDelay: true });
  connection.on("error", () => {}); // a broker restart is noticed by the measurement's guard
  const channel = await connection.createChannel();
  await channel.prefetch(WORKER_PREFETCH);
  const seen = new Set<string>();
  let duplicates = 0;
  let anonymous = 0;
  await channel.consume(queue, (message) => {
    if (!message) return;
    const id = message.properties.messageId as string | undefined;
    if (id === undefined) anonymous += 1;
    else if (seen.has(id)) duplicates += 1;
    else seen.add(id);
    channel.ack(message);
  });
  return {
    received: () => seen.size + anonymous,
    duplicates: () => duplicates,
    stop: async () => {
      await connection.close().catch(() => {});
    },
  };
}
