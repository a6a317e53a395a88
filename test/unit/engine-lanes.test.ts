/**
 * Claim lanes (docs/design.md §6): during a drain, up to CLAIM_LANES claim transactions are in flight at
 * once, so one claims and records while another waits for its confirms. Against fakes.
 */
import { describe, expect, test } from "bun:test";
import { CLAIM_LANES } from "../../src/engine/engine.ts";
import type { Publisher } from "../../src/engine/ports.ts";
import type { OutgoingMessage } from "../../src/schedule/message.ts";
import { connectionRefused, engineTestScope, fakeStore, launch, row } from "../support/engine-fakes.ts";
import { delay, until } from "../support/fake-time.ts";

const running = engineTestScope();

/** A publisher whose batches each wait `ms` (fake time), counting how many are waiting at once. */
function slowPublisher(ms: number, answer: () => "confirmed" | "unknown" = () => "confirmed") {
  const state = { inFlight: 0, maxInFlight: 0, batches: 0, messages: [] as OutgoingMessage[] };
  const publisher: Publisher & { connected: boolean } = {
    connected: true,
    async publishBatch(messages) {
      state.batches += 1;
      state.inFlight += 1;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      await delay(ms);
      state.inFlight -= 1;
      state.messages.push(...messages);
      const status = answer();
      if (status === "unknown") publisher.connected = false; // as a real link: unknown means it is gone
      return messages.map(() => (status === "confirmed" ? { status } : { status, reason: "channel closed" }));
    },
    async close() {
      publisher.connected = false;
    },
  };
  return { publisher, state };
}

describe("claim lanes", () => {
  test(`a drain keeps ${CLAIM_LANES} claims in flight at once, never more, and fires every row once`, async () => {
    expect(CLAIM_LANES).toBe(2);
    const rows = Array.from({ length: 60 }, (_, i) => row(i + 1, Date.now() - 10));
    const fake = fakeStore(rows, Date.now);
    const { publisher, state } = slowPublisher(20);
    const h = launch({ store: fake.store, publisher, options: { batchSize: 5, pollIntervalMs: 60_000 } }, running);
    await until("every row fired", () => h.metrics.executions === 60, 5_000);
    expect(state.maxInFlight).toBe(CLAIM_LANES);
    expect(new Set(state.messages.map((m) => m.messageId)).size).toBe(60);
    expect(state.messages).toHaveLength(60);
    expect(rows.every((r) => r.runCount === 1)).toBe(true);
  });

  test("a single due row costs one claim: the second lane starts only after a full batch", async () => {
    const fake = fakeStore([row(1, Date.now() - 10)], Date.now);
    const { publisher, state } = slowPublisher(5);
    const h = launch({ store: fake.store, publisher, options: { batchSize: 5, pollIntervalMs: 60_000 } }, running);
    await until("the fire", () => h.metrics.executions === 1, 1_000);
    await until("the poll after it", () => fake.calls.polls >= 1, 1_000);
    expect(fake.calls.claims).toBe(1);
    expect(state.maxInFlight).toBe(1);
  });

  test("a lane that loses the link: the other lane's batch finishes and is recorded before the reconnect", async () => {
    const rows = Array.from({ length: 20 }, (_, i) => row(i + 1, Date.now() - 10));
    const fake = fakeStore(rows, Date.now);
    let batches = 0;
    // The second batch (the second lane's first) loses the link; the others confirm.
    const { publisher, state } = slowPublisher(15, () => (++batches === 2 ? "unknown" : "confirmed"));
    let connects = 0;
    const h = launch(
      {
        store: fake.store,
        options: { batchSize: 5, pollIntervalMs: 60_000 },
        retryDelay: () => 5,
        connectPublisher: async () => {
          connects += 1;
          // No batch of the old link may still be in flight when a new link is made.
          if (connects > 1) expect(state.inFlight).toBe(0);
          publisher.connected = true;
          return publisher;
        },
      },
      running,
    );
    await until("every row fired", () => h.metrics.executions === 20, 5_000);
    expect(connects).toBe(2);
    expect(rows.every((r) => r.runCount === 1)).toBe(true);
    // The lost batch's 5 rows went out twice, with the same message ids.
    expect(state.messages).toHaveLength(25);
    expect(new Set(state.messages.map((m) => m.messageId)).size).toBe(20);
  });

  test("a lane whose claim fails (database lost) stops the drain once the other lane has settled, then it resumes", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => row(i + 1, Date.now() - 10));
    const fake = fakeStore(rows, Date.now);
    const { publisher } = slowPublisher(10);
    const h = launch(
      { store: fake.store, publisher, options: { batchSize: 5, pollIntervalMs: 60_000 }, retryDelay: () => 5 },
      running,
    );
    await until("a few fires", () => h.metrics.executions >= 10, 2_000);
    fake.failClaims(connectionRefused());
    await until(
      "the failure logged",
      () => h.lines.some((l) => / ERROR PostgreSQL failed \(attempt 1\)/.test(l)),
      2_000,
    );
    fake.failClaims(null);
    await until("every row fired", () => h.metrics.executions === 30, 5_000);
    expect(rows.every((r) => r.runCount === 1)).toBe(true);
  });
});
