/**
 * The engine loop's sleep: a timer that a wake (a NOTIFY, a broker event) cuts short, except
 * during a back-off, which nothing shortens (docs/design.md §4, §13). A wake that arrives while the loop is busy
 * is remembered, so the next sleep does not start at all.
 */
export interface Alarm {
  /** Sleeps `ms`, or less if woken (at once when a wake is pending or the alarm is stopped). */
  sleep(ms: number): Promise<void>;
  /** Sleeps `ms`, ignoring wakes; a pending wake is dropped. */
  backOff(ms: number): Promise<void>;
  /** Cuts the current sleep short, or marks a wake pending; ignored during a back-off. */
  wake(): void;
  /** Forgets a pending wake: called when the loop starts the work a wake asked for. */
  clearWake(): void;
  /** Ends any sleep for good (shutdown). */
  stop(): void;
}

export function createAlarm(): Alarm {
  let ring: (() => void) | null = null;
  let wakeRequested = false;
  let backingOff = false;
  let stopped = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopped || wakeRequested || ms <= 0) return resolve();
      const timer = setTimeout(() => finish(), ms);
      const finish = () => {
        clearTimeout(timer);
        ring = null;
        resolve();
      };
      ring = finish;
    });

  return {
    sleep,
    async backOff(ms) {
      backingOff = true;
      wakeRequested = false;
      await sleep(ms);
      backingOff = false;
    },
    wake() {
      if (backingOff) return;
      wakeRequested = true;
      ring?.();
    },
    clearWake() {
      wakeRequested = false;
    },
    stop() {
      stopped = true;
      ring?.();
    },
  };
}
