/**
 * Per-test resources with guaranteed cleanup: a fresh database and queue, and schedulers that are
 * killed after the test whatever its outcome (cleanups run in reverse order of creation).
 */
import { afterEach } from "bun:test";
import { startBinary, type Running } from "./binary.ts";
import { createTestDatabase, createTestQueue, type TestDatabase, type TestQueue } from "./services.ts";

export function testScope(defaults: { env?: Record<string, string> } = {}) {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });
  return {
    defer(cleanup: () => Promise<unknown>) {
      cleanups.push(cleanup);
    },
    async setup(options: { queue?: Parameters<typeof createTestQueue>[0]; consume?: boolean } = {}): Promise<{ db: TestDatabase; queue: TestQueue }> {
      const db = await createTestDatabase();
      cleanups.push(() => db.drop());
      const queue = await createTestQueue(options.queue);
      cleanups.push(() => queue.drop());
      if (options.consume) await queue.consume();
      return { db, queue };
    },
    /** `rune-scheduler run` with `env` over the scope's defaults; SIGKILLed after the test. */
    start(env: Record<string, string>): Running {
      const scheduler = startBinary(["run"], { ...defaults.env, ...env });
      cleanups.push(() => scheduler.stop("SIGKILL"));
      return scheduler;
    },
  };
}
