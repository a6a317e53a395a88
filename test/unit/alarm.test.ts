/** The engine loop's sleep, on Bun's fake timers: no real time passes. */
import { afterEach, beforeEach, describe, expect, jest, test } from "bun:test";
import { createAlarm } from "../../src/engine/alarm.ts";

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

/** Whether `promise` settled once the microtasks queued so far have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

describe("alarm", () => {
  test("a sleep ends when its time has passed, not before", async () => {
    const alarm = createAlarm();
    const sleeping = alarm.sleep(1_000);
    jest.advanceTimersByTime(999);
    expect(await settled(sleeping)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(await settled(sleeping)).toBe(true);
  });

  test("a wake cuts a sleep short", async () => {
    const alarm = createAlarm();
    const sleeping = alarm.sleep(60_000);
    alarm.wake();
    expect(await settled(sleeping)).toBe(true);
  });

  test("a wake while busy is remembered: the next sleep does not start, until clearWake", async () => {
    const alarm = createAlarm();
    alarm.wake();
    expect(await settled(alarm.sleep(60_000))).toBe(true);
    alarm.clearWake();
    expect(await settled(alarm.sleep(60_000))).toBe(false);
  });

  test("nothing shortens a back-off, and a wake during it is dropped", async () => {
    const alarm = createAlarm();
    const backingOff = alarm.backOff(2_000);
    for (let i = 0; i < 10; i++) alarm.wake();
    jest.advanceTimersByTime(1_999);
    expect(await settled(backingOff)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(await settled(backingOff)).toBe(true);
    expect(await settled(alarm.sleep(60_000))).toBe(false);
  });

  test("stop ends a sleep and every later one at once", async () => {
    const alarm = createAlarm();
    const sleeping = alarm.sleep(60_000);
    alarm.stop();
    expect(await settled(sleeping)).toBe(true);
    expect(await settled(alarm.sleep(60_000))).toBe(true);
  });
});
