/**
 * The live stream's own bound: a client that stays connected but stops reading is dropped once
 * it has left MAX_UNSENT events unread, and one that reads never is. The intervals are shortened.
 */
import { describe, expect, test } from "bun:test";
import type { ConsoleFeed } from "../../src/console/feed.ts";
import { eventStream, MAX_UNSENT } from "../../src/console/sse.ts";
import { waitFor } from "../support/services.ts";

const PACE = { coalesceMs: 2, heartbeatMs: 1 };
type ChangeListener = Parameters<ConsoleFeed["subscribe"]>[0];

function rig() {
  const listeners = new Set<ChangeListener>();
  const feed = {
    subscribe(listener: ChangeListener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const controller = new AbortController();
  let stalls = 0;
  const response = eventStream(feed, controller.signal, {}, () => (stalls += 1), PACE);
  return { listeners, controller, response, stalls: () => stalls };
}

describe("the live stream", () => {
  test("a client that stops reading is dropped: the stream errors, the feed is let go, the connection handed back", async () => {
    const { listeners, response, stalls } = rig();
    expect(listeners.size).toBe(1);
    // Nobody reads the body: every heartbeat stays queued.
    await waitFor("the stream given up", () => (stalls() === 1 ? true : null));
    expect(listeners.size).toBe(0);
    const reader = response.body!.getReader();
    await expect(reader.read()).rejects.toThrow("the client stopped reading the stream");
  });

  test("a client that reads is never dropped", async () => {
    const { listeners, controller, response, stalls } = rig();
    const reader = response.body!.getReader();
    let chunks = 0;
    while (chunks < MAX_UNSENT * 4) {
      const { done } = await reader.read();
      if (done) break;
      chunks += 1;
    }
    expect([chunks, stalls(), listeners.size]).toEqual([MAX_UNSENT * 4, 0, 1]);
    controller.abort();
    expect(listeners.size).toBe(0);
  });
});
