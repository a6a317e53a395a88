import { expect, test } from "bun:test";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const TRACEPARENT = /^00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-01$/;

const scope = testScope();

test("each consumed message carries a valid W3C traceparent header, a different trace for each fire", async () => {
  const { db, queue } = await scope.setup({ consume: true });
  const ids = await insertSchedules(db.sql, [
    { dueInMs: -1_000, intervalSeconds: 3600, name: "trace-a" },
    { dueInMs: -1_000, intervalSeconds: 3600, name: "trace-b" },
  ]);
  scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" });
  const messages = await waitFor("two messages", () =>
    queue.messages.length >= 2 ? queue.messages.slice(0, 2) : null,
  );

  const parents = messages.map((message) => String(message.raw.properties.headers?.traceparent));
  for (const parent of parents) expect(parent).toMatch(TRACEPARENT);
  const [traceA, traceB] = parents.map((parent) => TRACEPARENT.exec(parent)![1]);
  expect(traceA).not.toBe(traceB);
  // The other headers are still there as they were.
  expect(messages.map((message) => message.raw.properties.headers?.["x-schedule-id"]).sort()).toEqual([...ids].sort());
});
