/** The confirm deadline of a batch in flight (src/rabbitmq/link.ts silenceCheck): silence, blocks and their end. */
import { expect, test } from "bun:test";
import { CONFIRM_TIMEOUT_MS, silenceCheck } from "../../src/rabbitmq/link.ts";

const NEVER = Number.NEGATIVE_INFINITY;

test("a batch that heard something within the deadline waits for the rest of it", () => {
  expect(silenceCheck({ nowMs: 14_000, lastHeardMs: 10_000, blocked: false, unblockedAtMs: NEVER })).toEqual({
    abandon: false,
    recheckInMs: CONFIRM_TIMEOUT_MS - 4_000,
  });
});

test("a batch silent for the whole deadline is given up", () => {
  expect(
    silenceCheck({ nowMs: 10_000 + CONFIRM_TIMEOUT_MS, lastHeardMs: 10_000, blocked: false, unblockedAtMs: NEVER }),
  ).toEqual({ abandon: true });
});

test("a blocked link is never given up, however long the silence", () => {
  expect(silenceCheck({ nowMs: 600_000, lastHeardMs: 0, blocked: true, unblockedAtMs: NEVER })).toEqual({
    abandon: false,
    recheckInMs: CONFIRM_TIMEOUT_MS,
  });
});

test("after a block lifts, the batch gets the whole deadline again, not what was left before the block", () => {
  // Silent for 25 s, of which 24.999 s blocked: the broker has only just been allowed to confirm.
  const justLifted = silenceCheck({ nowMs: 25_000, lastHeardMs: 0, blocked: false, unblockedAtMs: 24_999 });
  expect(justLifted).toEqual({ abandon: false, recheckInMs: CONFIRM_TIMEOUT_MS - 1 });
  // Still nothing a whole deadline after the block lifted: now it is silence.
  expect(
    silenceCheck({ nowMs: 24_999 + CONFIRM_TIMEOUT_MS, lastHeardMs: 0, blocked: false, unblockedAtMs: 24_999 }),
  ).toEqual({ abandon: true });
});
