/**
 * The engine's reaction to the broker link's own events, against fakes: flow control
 * (connection.blocked) stops claiming without counting as a failure, and a lost link is
 * noticed at once rather than at the next poll. Polls are a minute apart here, and time is Bun's
 * fake clock: a reaction that comes before any time passes came from the event.
 */
import { expect, test } from "bun:test";
import type { EngineOptions } from "../../src/engine/engine.ts";
import type { Publisher } from "../../src/engine/ports.ts";
import { engineTestScope, fakeStore, launch, row } from "../support/engine-fakes.ts";
import { until } from "../support/fake-time.ts";

const OPTIONS: Partial<EngineOptions> = { pollIntervalMs: 60_000, maxRetries: 3 };

/** One row, due all along; every claim fires it and moves it an hour on. */
const oneDueRow = () => fakeStore([row(1, Date.now() - 1_000)], Date.now);

function linkFake() {
  const link = {
    connected: true,
    blocked: false,
    closedReason: null as string | null,
    connects: 0,
    published: 0,
    onChange: () => {},
  };
  const connectPublisher = async (onChange: () => void): Promise<Publisher> => {
    link.connects += 1;
    link.connected = true;
    link.closedReason = null;
    link.onChange = onChange;
    return {
      get connected() {
        return link.connected;
      },
      get blocked() {
        return link.blocked;
      },
      get closedReason() {
        return link.closedReason;
      },
      async publishBatch(messages) {
        link.published += messages.length;
        return messages.map(() => ({ status: "confirmed" as const }));
      },
      async close() {},
    };
  };
  return { link, connectPublisher };
}

const running = engineTestScope();

test("does not claim while the broker blocks publishes, is not ready, and claims as soon as it unblocks", async () => {
  const { store, calls } = oneDueRow();
  const { link, connectPublisher } = linkFake();
  link.blocked = true;
  const { metrics, lines } = launch({ store, connectPublisher, options: OPTIONS }, running);
  await until("the first poll", () => calls.polls >= 1, 1_000);
  expect(calls.claims).toBe(0);
  expect(metrics.mqUp).toBe(false);
  expect(lines.filter((l) => l.includes("blocks publishing: resource alarm"))).toHaveLength(1);

  link.blocked = false;
  link.onChange();
  await until("the fire", () => link.published === 1, 0);
  expect(metrics.mqUp).toBe(true);
  expect(lines.some((l) => /RabbitMQ unblocked after [\d.]+s; claiming again/.test(l))).toBe(true);
  // Flow control is not a failure: nothing counted toward MAX_RETRIES, nothing logged as an error.
  expect(lines.some((l) => / ERROR | CRITICAL /.test(l))).toBe(false);
});

test("a link lost while idle is noticed at once: not ready, reconnected without waiting for the next poll", async () => {
  const { store } = oneDueRow();
  const { link, connectPublisher } = linkFake();
  const { metrics, lines } = launch({ store, connectPublisher, options: OPTIONS }, running);
  await until("the fire", () => link.published === 1, 1_000);

  link.connected = false;
  link.closedReason = "connection error: Heartbeat timeout";
  link.onChange();
  expect(metrics.mqUp).toBe(false);
  await until("the reconnect", () => link.connects === 2 && metrics.mqUp, 0);
  expect(
    lines.some((l) =>
      l.includes('RabbitMQ connection lost; reconnecting reason="connection error: Heartbeat timeout"'),
    ),
  ).toBe(true);
});
