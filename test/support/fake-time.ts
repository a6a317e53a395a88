/**
 * Fake time for the engine's unit tests: Bun's fake clock (`jest.useFakeTimers()` around each
 * test) holds `setTimeout`, `setInterval`, `Date` and `performance.now` still until `until` or
 * `elapse` moves it, so no test waits in real time. `setImmediate` is not faked: the turns of the
 * event loop that the fakes' I/O takes are real, and they tell a busy engine from an idle one.
 */
import { jest } from "bun:test";

/** Turns the fakes' I/O has taken so far: `settle` tells a busy engine from an idle one by it. */
let ioTurns = 0;

/** One (real) turn of the event loop, as real I/O takes: every fake store call takes one. */
export async function ioTurn(): Promise<void> {
  ioTurns += 1;
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A wait on a timer: under fake timers it ends when the test moves the clock past it. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Lets the code under test run until it waits on a timer: turns of the event loop until one passes without I/O. */
async function settle(): Promise<void> {
  for (let turns = 0; turns < 10_000; turns++) {
    const before = ioTurns;
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (ioTurns === before) return;
  }
  throw new Error("the engine never waits on a timer: a hot loop");
}

/**
 * Runs the code under test until `condition` holds, moving the fake clock to the next timer each
 * time it is idle: time passes only while it waits, as if every I/O took no time. Fails when
 * `withinMs` of fake time pass first (0: it must hold before any time passes).
 */
export async function until<T>(what: string, condition: () => T, withinMs = 60_000): Promise<NonNullable<T>> {
  if (!jest.isFakeTimers()) throw new Error("until: call jest.useFakeTimers() first");
  let late = false;
  // A timer of its own at the deadline: advancing to the next timer never jumps past it.
  const deadline = setTimeout(() => (late = true), withinMs);
  try {
    for (;;) {
      await settle();
      const value = condition();
      if (value) return value as NonNullable<T>;
      if (late) throw new Error(`${what}: not within ${withinMs} ms (fake time)`);
      jest.advanceTimersToNextTimer();
    }
  } finally {
    clearTimeout(deadline);
  }
}

/** Lets `ms` of fake time pass, running every timer due meanwhile. */
export async function elapse(ms: number): Promise<void> {
  const end = Date.now() + ms;
  await until(`${ms} ms to pass`, () => Date.now() >= end, ms);
}
