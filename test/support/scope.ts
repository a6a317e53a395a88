/**
 * Per-test resources with guaranteed cleanup: a fresh database and queue, fault-proxy rigs, and
 * schedulers that are killed after the test whatever its outcome. Cleanups run after each test,
 * in reverse order of registration.
 */
import { afterEach } from "bun:test";
import { type Running, startBinary } from "./binary.ts";
import { createRig, type Rig } from "./faults.ts";
import { createTestDatabase, createTestQueue, type TestDatabase, type TestQueue } from "./services.ts";

export interface ScopeOptions {
  /** Environment under every `start`. */
  readonly env?: Record<string, string>;
  /** A cleanup still running after this long is left behind, so a handle that never closes cannot hang the file. */
  readonly cleanupTimeoutMs?: number;
  /** A cleanup that throws fails the test (once every other cleanup has run); by default it is ignored. */
  readonly strictCleanup?: boolean;
}

export function testScope(options: ScopeOptions = {}) {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    const errors: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse()) {
      const done = Promise.resolve()
        .then(cleanup)
        .catch((error: unknown) => {
          if (options.strictCleanup) errors.push(error);
        });
      await (options.cleanupTimeoutMs === undefined ? done : Promise.race([done, Bun.sleep(options.cleanupTimeoutMs)]));
    }
    if (errors.length > 0) throw errors[0];
  });
  /** Registers cleanups to run after the test; several at once run last to first, like separate calls. */
  const defer = (...more: (() => unknown)[]): void => {
    cleanups.push(...more);
  };
  return {
    defer,
    async setup(
      setupOptions: { queue?: Parameters<typeof createTestQueue>[0]; consume?: boolean } = {},
    ): Promise<{ db: TestDatabase; queue: TestQueue }> {
      const db = await createTestDatabase();
      defer(() => db.drop());
      const queue = await createTestQueue(setupOptions.queue);
      defer(() => queue.drop());
      if (setupOptions.consume) await queue.consume();
      return { db, queue };
    },
    /** A scheduler wired through fault proxies (test/support/faults.ts); all of it is torn down after the test. */
    rig(rigOptions?: Parameters<typeof createRig>[1]): Promise<Rig> {
      return createRig(defer, rigOptions);
    },
    /** `rune-scheduler run` with `env` over the scope's defaults; SIGKILLed after the test. */
    start(env: Record<string, string>): Running {
      const scheduler = startBinary(["run"], { ...options.env, ...env });
      defer(() => scheduler.stop("SIGKILL"));
      return scheduler;
    },
  };
}
