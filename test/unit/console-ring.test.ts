import { describe, expect, test } from "bun:test";
import { createFeed } from "../../src/console/feed.ts";
import { FireLog, MinuteSeries, Ring, SERIES_MINUTES } from "../../src/console/ring.ts";
import { emptyTally } from "../../src/engine/fire.ts";

describe("Ring", () => {
  test("keeps the last items, oldest first", () => {
    const ring = new Ring<number>(3);
    expect(ring.toArray()).toEqual([]);
    for (let i = 1; i <= 5; i++) ring.push(i);
    expect(ring.toArray()).toEqual([3, 4, 5]);
    expect(ring.size).toBe(3);
    expect(() => new Ring(0)).toThrow(RangeError);
  });
});

describe("MinuteSeries", () => {
  const T = Date.UTC(2026, 0, 1, 12, 0, 0);
  test("counts fires per minute and reads percentiles within 15 %", () => {
    const series = new MinuteSeries();
    for (let i = 1; i <= 100; i++) series.record(T + 10_000, i);
    series.record(T - 60_000, 500);
    const points = series.points(T + 30_000);
    expect(points).toHaveLength(SERIES_MINUTES);
    const now = points[points.length - 1]!;
    expect(now.fires).toBe(100);
    expect(now.p50Ms! / 50).toBeGreaterThanOrEqual(1);
    expect(now.p50Ms! / 50).toBeLessThan(1.15);
    expect(now.p99Ms! / 99).toBeLessThan(1.15);
    expect(points[points.length - 2]!.fires).toBe(1);
    expect(points[0]!.p50Ms).toBeNull();
  });
  test("forgets minutes older than an hour", () => {
    const series = new MinuteSeries();
    series.record(T, 5);
    expect(series.points(T + SERIES_MINUTES * 60_000).every((p) => p.fires === 0)).toBe(true);
    series.record(T + SERIES_MINUTES * 60_000, 5);
    expect(series.points(T + SERIES_MINUTES * 60_000).at(-1)!.fires).toBe(1);
  });
});

describe("FireLog", () => {
  test("bounded in schedules and in fires per schedule, newest first", () => {
    const log = new FireLog(2, 3);
    for (let i = 0; i < 5; i++) log.add(1, { slotMs: i, lagMs: 1, messageId: `1:${i}`, firedAtMs: i });
    log.add(2, { slotMs: 0, lagMs: 1, messageId: "2:0", firedAtMs: 0 });
    expect(log.of(1).map((f) => f.slotMs)).toEqual([4, 3, 2]);
    log.add(3, { slotMs: 0, lagMs: 1, messageId: "3:0", firedAtMs: 0 });
    expect(log.schedules).toBe(2);
    expect(log.of(1)).toEqual([]);
    expect(log.of(3)).toHaveLength(1);
  });
});

describe("feed", () => {
  test("records committed fires and tells subscribers until they leave", () => {
    const feed = createFeed();
    const seen: (readonly number[])[] = [];
    const leave = feed.subscribe((change) => seen.push(change.ids));
    const tally = emptyTally();
    tally.executions = 1;
    tally.confirmed.push({ id: 7, messageId: "7:1000", traceparent: "", slotMs: 1000, lagSeconds: 0.02 });
    feed.report({ type: "batch committed", tally });
    expect(seen).toEqual([[7]]);
    expect(feed.fires.of(7)[0]).toMatchObject({ messageId: "7:1000", lagMs: 20 });
    leave();
    expect(feed.subscribers).toBe(0);
    feed.report({ type: "batch committed", tally });
    expect(seen).toHaveLength(1);
  });
});
