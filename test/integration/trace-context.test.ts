import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Running, startBinary } from "../support/binary.ts";
import {
  createTestDatabase,
  createTestQueue,
  insertSchedules,
  type TestDatabase,
  type TestQueue,
  waitFor,
} from "../support/services.ts";

const TRACEPARENT = /^00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-01$/;

let db: TestDatabase;
let queue: TestQueue;
let scheduler: Running | null = null;

beforeAll(async () => {
  db = await createTestDatabase();
  queue = await createTestQueue();
  await queue.consume();
});

afterAll(async () => {
  await scheduler?.stop("SIGKILL");
  await queue.drop();
  await db.drop();
});

test("each consumed message carries a valid W3C traceparent header, a different trace for each fire", async () => {
  const ids = await insertSchedules(db.sql, [
    { dueInMs: -1_000, intervalSeconds: 3600, name: "trace-a" },
    { dueInMs: -1_000, intervalSeconds: 3600, name: "trace-b" },
  ]);
  scheduler = startBinary(["run"], { ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" });
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
