/** The deadlines of a batch in flight (src/rabbitmq/link-rules.ts silenceCheck): silence, blocks, their end, the total bound. */
import { expect, test } from "bun:test";
import { CONFIRM_TIMEOUT_MS, PUBLISH_MAX_MS, silenceCheck } from "../../src/rabbitmq/link-rules.ts";

const NEVER = Number.NEGATIVE_INFINITY;
const at = (nowMs: number, lastHeardMs: number, more: { blocked?: boolean; unblockedAtMs?: number } = {}) => ({
  nowMs,
  publishedAtMs: 10_000,
  lastHeardMs,
  blocked: more.blocked ?? false,
  unblockedAtMs: more.unblockedAtMs ?? NEVER,
});

test("a batch that heard something within the deadline waits for the rest of it", () => {
  expect(silenceCheck(at(14_000, 12_000))).toEqual({ abandon: false, recheckInMs: CONFIRM_TIMEOUT_MS - 2_000 });
});

test("a batch silent for the whole deadline is given up", () => {
  expect(silenceCheck(at(10_000 + CONFIRM_TIMEOUT_MS, 10_000))).toEqual({ abandon: true, why: "silent" });
});

test("a blocked link gives its batch back at once: the broker would hold it for the alarm's length", () => {
  expect(silenceCheck(at(10_001, 10_000, { blocked: true }))).toEqual({ abandon: true, why: "blocked" });
});

test("after a block lifts, the batch gets the whole deadline again, not what was left before the block", () => {
  // Silent for 15 s, of which 14.999 s blocked: the broker has only just been allowed to confirm.
  const justLifted = silenceCheck(at(25_000, 10_000, { unblockedAtMs: 24_999 }));
  expect(justLifted).toEqual({ abandon: false, recheckInMs: CONFIRM_TIMEOUT_MS - 1 });
  expect(silenceCheck(at(24_999 + CONFIRM_TIMEOUT_MS, 10_000, { unblockedAtMs: 24_999 }))).toEqual({
    abandon: true,
    why: "silent",
  });
});

test("a batch that keeps hearing confirms is still given up PUBLISH_MAX_MS after it was published", () => {
  const end = 10_000 + PUBLISH_MAX_MS;
  expect(silenceCheck(at(end - 3_000, end - 3_001))).toEqual({ abandon: false, recheckInMs: 3_000 });
  expect(silenceCheck(at(end, end - 1))).toEqual({ abandon: true, why: "too long" });
});
