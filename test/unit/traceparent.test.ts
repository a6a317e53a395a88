import { describe, expect, test } from "bun:test";
import { buildMessage, newTraceparent } from "../../src/schedule/message.ts";
import { claimedRow, SLOT } from "../support/schedule.ts";

/** W3C Trace Context level 1, version 00: lower-case hex, neither id all zeros; 01 = sampled. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-01$/;

const row = claimedRow({ workflowData: '{"a": 1}' });

describe("traceparent", () => {
  test("is version 00, a 32-hex trace id, a 16-hex span id and the sampled flag", () => {
    for (let i = 0; i < 1000; i++) expect(newTraceparent()).toMatch(TRACEPARENT);
  });

  test("writes the random bytes as trace id then span id", () => {
    const fill = (bytes: Uint8Array) => {
      for (let i = 0; i < bytes.length; i++) bytes[i] = i + 1;
    };
    expect(newTraceparent(fill)).toBe("00-0102030405060708090a0b0c0d0e0f10-1112131415161718-01");
  });

  test("draws again rather than send an all-zero trace id or span id", () => {
    let draws = 0;
    const fill = (bytes: Uint8Array) => {
      draws++;
      bytes.fill(0);
      if (draws === 2) bytes[0] = 1; // trace id set, span id still zero
      if (draws === 3) bytes.fill(0xab);
    };
    expect(newTraceparent(fill)).toBe(`00-${"ab".repeat(16)}-${"ab".repeat(8)}-01`);
    expect(draws).toBe(3);
  });

  test("every message gets its own trace; the body and the other properties do not change", () => {
    const a = buildMessage(row, { nowMs: SLOT + 5, missed: 0 });
    const b = buildMessage(row, { nowMs: SLOT + 5, missed: 0 });
    expect(a.properties.headers.traceparent).toMatch(TRACEPARENT);
    expect(b.properties.headers.traceparent).toMatch(TRACEPARENT);
    const traceId = (message: typeof a) => String(message.properties.headers.traceparent).split("-")[1];
    expect(traceId(a)).not.toBe(traceId(b));
    const { traceparent: _a, ...restA } = a.properties.headers;
    const { traceparent: _b, ...restB } = b.properties.headers;
    expect(restA).toEqual({ "x-schedule-id": 42, "x-scheduled-for": "2026-11-26T13:45:00.000Z" });
    expect(restB).toEqual(restA);
    expect(a.body.equals(b.body)).toBe(true);
  });
});
