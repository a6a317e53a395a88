/**
 * Resources with guaranteed cleanup: fresh databases and queues, fault proxies, hostile servers,
 * fault-proxy rigs, and schedulers that are SIGKILLed whatever the outcome. Cleanups run in
 * reverse order of registration: after each test with `testScope`; with `sharedScope`, once after
 * the last test of the file or describe block that calls it, for fixtures its tests share (made
 * in a `beforeAll`).
 */
import { afterAll, afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Running, startBinary } from "./binary.ts";
import { createRig, type Rig } from "./faults.ts";
import { type HostileMode, type HostileServer, startHostileServer } from "./hostile.ts";
import { type FaultProxy, startProxy } from "./proxy.ts";
import { createTestDatabase, createTestQueue, type TestDatabase, type TestQueue } from "./services.ts";

export interface ScopeOptions {
  /** Environment under every `start`. */
  readonly env?: Record<string, string>;
  /** A cleanup still running after this long is left behind, so a handle that never closes cannot hang the file. */
  readonly cleanupTimeoutMs?: number;
  /** A cleanup that throws fails the test (once every other cleanup has run); by default it is ignored. */
  readonly strictCleanup?: boolean;
}

export interface Scope {
  /** Registers cleanups; several at once run last to first, like separate calls. */
  defer(...cleanups: (() => unknown)[]): void;
  database(options?: Parameters<typeof createTestDatabase>[0]): Promise<TestDatabase>;
  queue(options?: Parameters<typeof createTestQueue>[0]): Promise<TestQueue>;
  /** A database and a queue; `consume` starts collecting the queue's messages. */
  setup(options?: {
    queue?: Parameters<typeof createTestQueue>[0];
    consume?: boolean;
  }): Promise<{ db: TestDatabase; queue: TestQueue }>;
  /** A fault proxy (test/support/proxy.ts) in front of `target`. */
  proxy(target: { host: string; port: number }): Promise<FaultProxy>;
  /** A server that is not PostgreSQL (test/support/hostile.ts). */
  hostile(mode: HostileMode): Promise<HostileServer>;
  /** A scheduler wired through fault proxies (test/support/faults.ts); all of it is torn down with the scope. */
  rig(options?: Parameters<typeof createRig>[1]): Promise<Rig>;
  /** `rune-scheduler run` with `env` over the scope's defaults; SIGKILLed with the scope. */
  start(env: Record<string, string>): Running;
  /** A new directory under the system's temporary directory, named `prefix…`; removed with everything in it. */
  tempDir(prefix: string): string;
}

/** Cleaned up after each test. */
export function testScope(options: ScopeOptions = {}): Scope {
  return makeScope(afterEach, options);
}

/** Cleaned up once, after the last test of the enclosing file or describe block. */
export function sharedScope(options: ScopeOptions = {}): Scope {
  return makeScope(afterAll, options);
}

function makeScope(after: (hook: () => Promise<void>) => void, options: ScopeOptions): Scope {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
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
  const defer = (...more: (() => unknown)[]): void => {
    cleanups.push(...more);
  };
  /** `made`, with `close` of it deferred. */
  const own = async <T>(made: Promise<T>, close: (resource: T) => unknown): Promise<T> => {
    const resource = await made;
    defer(() => close(resource));
    return resource;
  };
  const scope: Scope = {
    defer,
    database: (dbOptions) => own(createTestDatabase(dbOptions), (db) => db.drop()),
    queue: (queueOptions) => own(createTestQueue(queueOptions), (queue) => queue.drop()),
    async setup(setupOptions = {}) {
      const db = await scope.database();
      const queue = await scope.queue(setupOptions.queue);
      if (setupOptions.consume) await queue.consume();
      return { db, queue };
    },
    proxy: (target) => own(startProxy(target), (proxy) => proxy.close()),
    hostile: (mode) => own(startHostileServer(mode), (server) => server.close()),
    rig: (rigOptions) => createRig(scope, rigOptions),
    start(env) {
      const scheduler = startBinary(["run"], { ...options.env, ...env });
      defer(() => scheduler.stop("SIGKILL"));
      return scheduler;
    },
    tempDir(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      defer(() => rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
  };
  return scope;
}
