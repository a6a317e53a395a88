import { describe, expect, test } from "bun:test";
import { buildMessage, messageIdFor } from "../../src/schedule/message.ts";
import { planFire, rowUpdate, UnplannableRow } from "../../src/schedule/plan.ts";
import { claimedRow, SLOT } from "../support/schedule.ts";

const options = { misfireGraceMs: 0, maxMessageBytes: 16 * 1024 * 1024 };

describe("buildMessage", () => {
  test("body has the original five fields first, then the new ones, byte for byte", () => {
    const message = buildMessage(claimedRow(), { nowMs: SLOT + 12, missed: 0 });
    expect(message.body.toString()).toBe(
      '{"workflow_id":7,"schedule_id":42,"workflow_data":{"a": [1, 2], "s": "é\\u0000"},' +
        '"triggered_at":"2026-11-26T13:45:00.012Z","trigger_source":"scheduler","workflow_name":"nightly-report",' +
        '"scheduled_for":"2026-11-26T13:45:00.000Z","run_number":18,"missed_runs":0}',
    );
    expect(JSON.parse(message.body.toString()).workflow_data).toEqual({ a: [1, 2], s: "é\u0000" });
  });

  test("properties of docs/contract.md §5, with a deterministic message id", () => {
    const message = buildMessage(claimedRow({ slotMs: SLOT + 0.7 }), { nowMs: SLOT + 1500, missed: 2 });
    expect(message.properties).toEqual({
      persistent: true,
      mandatory: true,
      contentType: "application/json",
      messageId: `42:${SLOT}`,
      timestamp: Math.floor((SLOT + 1500) / 1000),
      appId: "rune-scheduler",
      headers: {
        "x-schedule-id": 42,
        "x-scheduled-for": "2026-11-26T13:45:00.000Z",
        traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/),
      },
    });
    expect(messageIdFor(42, SLOT + 0.7)).toBe(`42:${SLOT}`);
  });

  test("NULL workflow_data and name become JSON null", () => {
    const body = JSON.parse(
      buildMessage(claimedRow({ workflowData: null, workflowName: null }), { nowMs: SLOT, missed: 0 }).body.toString(),
    );
    expect(body.workflow_data).toBeNull();
    expect(body.workflow_name).toBeNull();
  });

  test("with a sealer, workflow_data is replaced by workflow_data_encrypted and the header says fernet", () => {
    const message = buildMessage(claimedRow(), { nowMs: SLOT, missed: 0, seal: (text) => `sealed(${text.length})` });
    const body = JSON.parse(message.body.toString());
    expect(body).not.toHaveProperty("workflow_data");
    expect(body.workflow_data_encrypted).toBe(`sealed(${claimedRow().workflowData!.length})`);
    expect(Object.keys(body)[2]).toBe("workflow_data_encrypted");
    expect(message.properties.headers["x-encryption"]).toBe("fernet");
  });
});

describe("planFire and rowUpdate", () => {
  test("a due row is published; confirmed → ok, next slot on the grid", () => {
    const plan = planFire(claimedRow(), SLOT + 5, options);
    expect(plan.kind).toBe("publish");
    expect(rowUpdate(plan, { status: "confirmed" }, 0)).toEqual({
      id: 42,
      nextMs: SLOT + 60_000,
      outcome: "ok",
      error: null,
      pause: false,
    });
  });

  test("missed slots are counted in the message", () => {
    const plan = planFire(claimedRow(), SLOT + 9.5 * 60_000, options);
    expect(plan.missed).toBe(9);
    if (plan.kind !== "publish") throw new Error("expected publish");
    expect(JSON.parse(plan.message.body.toString()).missed_runs).toBe(9);
  });

  test("returned unroutable → failed with the reason, and the schedule moves on", () => {
    const plan = planFire(claimedRow({ failureCount: 1 }), SLOT, options);
    expect(rowUpdate(plan, { status: "failed", reason: "unroutable" }, 0)).toEqual({
      id: 42,
      nextMs: SLOT + 60_000,
      outcome: "failed",
      error: "unroutable",
      pause: false,
    });
  });

  test("unknown (link lost before the confirm) → no update: the row stays due", () => {
    expect(rowUpdate(planFire(claimedRow(), SLOT, options), { status: "unknown", reason: "closed" }, 0)).toBeNull();
    expect(rowUpdate(planFire(claimedRow(), SLOT, options), undefined, 0)).toBeNull();
  });

  test("too large → failed without publishing, with the size in the reason", () => {
    const plan = planFire(claimedRow({ workflowData: JSON.stringify("x".repeat(500)) }), SLOT, {
      ...options,
      maxMessageBytes: 300,
    });
    expect(plan.kind).toBe("fail");
    const update = rowUpdate(plan, undefined, 0)!;
    expect(update.outcome).toBe("failed");
    expect(update.error).toMatch(/^message of \d+ bytes exceeds SCHEDULER_MAX_MESSAGE_BYTES=300; not sent$/);
  });

  test("larger than the broker's own limit (learned when it closed the channel) → failed, not sent again", () => {
    const plan = planFire(claimedRow({ workflowData: JSON.stringify("x".repeat(500)) }), SLOT, {
      ...options,
      brokerMaxBodyBytes: 300,
    });
    expect(plan.kind).toBe("fail");
    expect(rowUpdate(plan, undefined, 0)!.error).toMatch(
      /^message of \d+ bytes exceeds the broker's max_message_size of 300 bytes \(it closed the channel on it\); not sent$/,
    );
    expect(planFire(claimedRow(), SLOT, { ...options, brokerMaxBodyBytes: 100_000 }).kind).toBe("publish");
  });

  test("a row with no computable next slot throws UnplannableRow (the engine sets it aside), never a bad update", () => {
    expect(() => planFire(claimedRow({ slotMs: Number.NEGATIVE_INFINITY }), SLOT, options)).toThrow(UnplannableRow);
    expect(() => planFire(claimedRow({ intervalSeconds: 0 }), SLOT, options)).toThrow(UnplannableRow);
    expect(() => planFire(claimedRow({ slotMs: 8.64e15 }), 8.64e15 + 1, options)).toThrow(UnplannableRow);
  });

  test("a sealer that throws → failed as not serialisable", () => {
    const plan = planFire(claimedRow(), SLOT, {
      ...options,
      seal: () => {
        throw new Error("boom");
      },
    });
    expect(plan.kind).toBe("fail");
    expect(rowUpdate(plan, undefined, 0)!.error).toBe("message could not be serialised: boom");
  });

  test("later than the grace → skipped: no message, reason recorded", () => {
    const plan = planFire(claimedRow(), SLOT + 120_500, { ...options, misfireGraceMs: 60_000 });
    expect(plan.kind).toBe("skip");
    const update = rowUpdate(plan, undefined, 0)!;
    expect(update).toMatchObject({ outcome: "skipped", nextMs: SLOT + 180_000, pause: false });
    expect(update.error).toBe(
      "skipped by rune-scheduler: slot 2026-11-26T13:45:00.000Z was 120.500s late, more than SCHEDULER_MISFIRE_GRACE=60s",
    );
  });

  test("the Nth consecutive failure pauses the schedule, saying why", () => {
    const plan = planFire(claimedRow({ failureCount: 2 }), SLOT, options);
    const update = rowUpdate(
      plan,
      { status: "failed", reason: "returned by the broker as unroutable: 312 NO_ROUTE" },
      3,
    )!;
    expect(update.pause).toBe(true);
    expect(update.error).toBe(
      "paused by rune-scheduler after 3 consecutive failed fires; last: returned by the broker as unroutable: 312 NO_ROUTE",
    );
    expect(
      rowUpdate(planFire(claimedRow({ failureCount: 1 }), SLOT, options), { status: "failed", reason: "x" }, 3)!.pause,
    ).toBe(false);
  });
});

describe("rowUpdate's fire record (the history row)", () => {
  const times = { sentMs: SLOT + 40, answeredMs: SLOT + 90 };
  test("a confirmed fire: its message id, sent and confirmed times, lag from the slot", () => {
    const plan = planFire(claimedRow(), SLOT, options);
    expect(rowUpdate(plan, { status: "confirmed" }, 0, times)?.fire).toEqual({
      slotMs: SLOT,
      missed: 0,
      messageId: `42:${SLOT}`,
      sentMs: SLOT + 40,
      confirmedMs: SLOT + 90,
      lagSeconds: 0.09,
    });
  });
  test("a refused fire was sent, never confirmed; a skipped slot sent nothing", () => {
    const failed = rowUpdate(
      planFire(claimedRow(), SLOT, options),
      { status: "failed", reason: "unroutable" },
      0,
      times,
    );
    expect(failed?.fire).toMatchObject({ messageId: `42:${SLOT}`, sentMs: SLOT + 40, confirmedMs: null });
    const skip = planFire(claimedRow(), SLOT + 3_600_000, { ...options, misfireGraceMs: 1000 });
    expect(skip.kind).toBe("skip");
    expect(rowUpdate(skip, undefined, 0, times)?.fire).toMatchObject({
      messageId: null,
      sentMs: null,
      lagSeconds: null,
    });
  });
  test("no times, no record: the outcome alone", () => {
    expect(rowUpdate(planFire(claimedRow(), SLOT, options), { status: "confirmed" }, 0)).not.toHaveProperty("fire");
  });
});
