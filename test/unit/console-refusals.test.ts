/**
 * Refused console tokens: each logged once and folded when it repeats, counted, and an address
 * limited after repeated failures for a while, without touching any other address.
 */
import { describe, expect, test } from "bun:test";
import { BLOCK_MS, createRefusals, MAX_FAILURES, type RefusalReason, WINDOW_MS } from "../../src/console/refusals.ts";
import type { Logger } from "../../src/observe/log.ts";

function rig() {
  const lines: string[] = [];
  const note = (message: string) => lines.push(message);
  const log: Logger = { debug: note, info: note, warn: note, error: note, critical: note };
  const counted: Record<RefusalReason, number> = { missing: 0, wrong: 0, limited: 0 };
  let now = 1_000_000;
  const refusals = createRefusals(
    log,
    (reason) => (counted[reason] += 1),
    () => now,
  );
  return { refusals, lines, counted, advance: (ms: number) => (now += ms) };
}

describe("console refusals", () => {
  test("an address is limited after repeated failures, for a while, and no other address is", () => {
    const { refusals, counted, advance } = rig();
    for (let i = 0; i < MAX_FAILURES - 1; i++) refusals.refused("10.0.0.7", "/console/api/overview", "wrong");
    expect(refusals.blockedFor("10.0.0.7")).toBe(0);
    refusals.refused("10.0.0.7", "/console/api/overview", "missing");
    expect(refusals.blockedFor("10.0.0.7")).toBe(BLOCK_MS);
    expect(refusals.blockedFor("10.0.0.8")).toBe(0);
    // Refusals while limited are counted but do not stretch the limit.
    refusals.refused("10.0.0.7", "/console/api/overview", "limited");
    expect(counted).toEqual({ missing: 1, wrong: MAX_FAILURES - 1, limited: 1 });
    advance(BLOCK_MS - 1);
    expect(refusals.blockedFor("10.0.0.7")).toBe(1);
    advance(1);
    expect(refusals.blockedFor("10.0.0.7")).toBe(0);
  });

  test("failures further apart than the window never add up; a right token forgives them", () => {
    const { refusals, advance } = rig();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < MAX_FAILURES - 1; i++) refusals.refused("10.0.0.7", "/console/api/session", "wrong");
      advance(WINDOW_MS + 1);
    }
    expect(refusals.blockedFor("10.0.0.7")).toBe(0);
    for (let i = 0; i < MAX_FAILURES - 1; i++) refusals.refused("10.0.0.9", "/console/api/session", "wrong");
    refusals.accepted("10.0.0.9");
    refusals.refused("10.0.0.9", "/console/api/session", "wrong");
    expect(refusals.blockedFor("10.0.0.9")).toBe(0);
  });

  test("one line per refusal, repeats folded into one line saying how many", () => {
    const { refusals, lines } = rig();
    for (let i = 0; i < 300; i++) refusals.refused("10.0.0.7", "/console/api/overview", "wrong");
    refusals.refused("10.0.0.8", "/console/api/overview", "wrong");
    refusals.refused("10.0.0.7", "/console/api/overview", "limited");
    expect(lines).toEqual([
      "CONSOLE REFUSED from=10.0.0.7 path=/console/api/overview: wrong console token (401)",
      "CONSOLE REFUSED from=10.0.0.8 path=/console/api/overview: wrong console token (401)",
      "CONSOLE REFUSED from=10.0.0.7 path=/console/api/overview: too many failed attempts from this address (429)",
    ]);
    refusals.flush();
    expect(lines.slice(3)).toEqual([
      "CONSOLE REFUSED from=10.0.0.7 path=/console/api/overview: wrong console token (401); 299 more time(s) in 10 s",
    ]);
  });

  test("an address over the limit writes one folded line, however many paths it tries", () => {
    const { refusals, lines } = rig();
    for (let i = 0; i < MAX_FAILURES; i++) refusals.refused("10.0.0.7", "/console/api/overview", "wrong");
    lines.length = 0;
    for (let i = 0; i < 500; i++) refusals.refused("10.0.0.7", `/console/api/x${i}`, "limited");
    refusals.flush();
    expect(lines).toEqual([
      "CONSOLE REFUSED from=10.0.0.7 path=/console/api/x0: too many failed attempts from this address (429)",
      "CONSOLE REFUSED from=10.0.0.7 path=/console/api/overview: wrong console token (401); 9 more time(s) in 10 s",
      "CONSOLE REFUSED from=10.0.0.7 path=/console/api/x0: too many failed attempts from this address (429); 499 more time(s) in 10 s",
    ]);
  });

  test("a long path is cut in the line", () => {
    const { refusals, lines } = rig();
    refusals.refused("10.0.0.7", `/console/api/${"x".repeat(500)}`, "missing");
    expect(lines[0]!.length).toBeLessThan(220);
    refusals.flush();
  });

  test("long paths are cut before they are kept: two that read the same in the line fold into it", () => {
    const { refusals, lines } = rig();
    const long = `/console/api/${"x".repeat(16_000)}`;
    refusals.refused("10.0.0.7", `${long}a`, "wrong");
    refusals.refused("10.0.0.7", `${long}b`, "wrong");
    refusals.flush();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEndWith("…: wrong console token (401); 1 more time(s) in 10 s");
  });

  test("a thousand folds of 16 KiB paths hold no more than their cut paths", () => {
    const { refusals } = rig();
    const heap = () => {
      Bun.gc(true);
      // Long strings' storage is counted outside the heap proper.
      const { heapUsed, external } = process.memoryUsage();
      return heapUsed + external;
    };
    const before = heap();
    // A hundred addresses, ten different long paths each (past ten an address is limited).
    for (let i = 0; i < 1000; i++)
      refusals.refused(`10.0.${i % 100}.1`, `/console/api/${"x".repeat(16_000)}${i}`, "wrong");
    const grownMiB = (heap() - before) / 1024 / 1024;
    // Whole paths would be about 16 MB (30 as measured); cut ones well under one.
    expect(grownMiB).toBeLessThan(4);
    refusals.flush();
  });
});
