/**
 * What each message property costs RabbitMQ: the scheduler's own messages published by a bare
 * confirm publisher (ceiling.ts) with a worker draining the queue, once as they are and once
 * without each property in turn, into a classic queue version 1, a classic version 2 and a
 * quorum queue. The figure is the broker's CPU (beam.smp) per message; the variants of one queue
 * kind run one after another, so they see about the same load.
 */
import type { Options } from "amqplib";
import { type Message, publishLoop } from "./ceiling.ts";
import { sampleMessages } from "./data.ts";
import { createDatabase } from "./env.ts";

export const QUEUE_KINDS = {
  "classic v1": { "x-queue-type": "classic", "x-queue-version": 1 },
  "classic v2": { "x-queue-type": "classic", "x-queue-version": 2 },
  quorum: { "x-queue-type": "quorum" },
} as const;
export type QueueKind = keyof typeof QUEUE_KINDS;

/** Each variant: the scheduler's properties with one thing taken away (or all of them). */
const VARIANTS: Record<string, (options: Options.Publish) => Options.Publish> = {
  "as sent": (o) => o,
  "without x-schedule-id": (o) => ({ ...o, headers: without(o.headers, "x-schedule-id") }),
  "without x-scheduled-for": (o) => ({ ...o, headers: without(o.headers, "x-scheduled-for") }),
  "without traceparent": (o) => ({ ...o, headers: without(o.headers, "traceparent") }),
  "without headers": ({ headers: _, ...o }) => o,
  "without messageId": ({ messageId: _, ...o }) => o,
  "without timestamp": ({ timestamp: _, ...o }) => o,
  "without mandatory": (o) => ({ ...o, mandatory: false }),
  "transient (not persistent)": (o) => ({ ...o, persistent: false }),
  "body only, transient": () => ({}),
};
export const PROPERTY_VARIANTS = Object.keys(VARIANTS);

function without(headers: Record<string, unknown> | undefined, key: string): Record<string, unknown> {
  const { [key]: _, ...rest } = headers ?? {};
  return rest;
}

export interface PropertyCost {
  readonly kind: QueueKind;
  readonly variant: string;
  /** RabbitMQ's CPU per message, µs, and the publish rate. */
  readonly brokerUs: number;
  readonly perSecond: number;
}

export async function runPropertyCosts(count: number, batch: number, payloadBytes: number): Promise<PropertyCost[]> {
  const db = await createDatabase("rune_bench_properties");
  let sample: Message[];
  try {
    sample = (await sampleMessages(db.sql, count, payloadBytes)).map((m) => ({
      body: m.body,
      options: { ...m.properties, headers: { ...m.properties.headers } },
    }));
  } finally {
    await db.drop();
  }
  const results: PropertyCost[] = [];
  for (const kind of Object.keys(QUEUE_KINDS) as QueueKind[]) {
    for (const [variant, change] of Object.entries(VARIANTS)) {
      const messages = sample.map((m) => ({ body: m.body, options: change(m.options) }));
      const rate = await publishLoop(messages, batch, true, QUEUE_KINDS[kind]);
      results.push({ kind, variant, brokerUs: (rate.cpu!.brokerSeconds * 1e6) / count, perSecond: rate.perSecond });
    }
  }
  return results;
}
