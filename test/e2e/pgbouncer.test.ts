/**
 * Through PgBouncer (Debian's, default settings, in front of the shared PostgreSQL), in
 * transaction and in session mode: the scheduler fires, two replicas never fire a slot twice, a
 * recycled server connection costs nothing, and LISTEN does what its log line says.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { runBinary, startBinary } from "../support/binary.ts";
import { type PgBouncer, startPgBouncer } from "../support/pgbouncer.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, PG, type TestDatabase, type TestQueue, waitFor } from "../support/services.ts";

const PORTS = { transaction: 56010, session: 56011 } as const;

for (const mode of ["transaction", "session"] as const) {
  describe(`PgBouncer in ${mode} mode`, () => {
    const scope = sharedScope();
    let bouncer: PgBouncer;
    let db: TestDatabase;
    let queue: TestQueue;
    let env: Record<string, string>;

    beforeAll(async () => {
      bouncer = await startPgBouncer(PORTS[mode], mode);
      scope.defer(() => bouncer.stop());
      ({ db, queue } = await scope.setup({ consume: true }));
      env = {
        ...db.env,
        ...queue.env,
        POSTGRES_PORT: String(bouncer.port),
        POSTGRES_POOLER: mode,
        SCHEDULER_POLL_INTERVAL: "0.5",
      };
    });

    const start = (extra: Record<string, string> = {}) => {
      const scheduler = startBinary(["run"], { ...env, ...extra });
      scope.defer(() => scheduler.stop("SIGKILL"));
      return scheduler;
    };

    test("without POSTGRES_POOLER the pooler's refusal names the setting", async () => {
      const { code, stderr } = await runBinary(["check-db"], { ...env, POSTGRES_POOLER: "none" });
      expect(code).toBe(1);
      expect(stderr).toContain(
        `FAILED PostgreSQL at 127.0.0.1:${bouncer.port} is a connection pooler that refuses the start-up parameter statement_timeout; set POSTGRES_POOLER=transaction`,
      );
      expect((await runBinary(["check-db"], env)).code).toBe(0);
    });

    const slots = (id: number) => queue.messages.filter((m) => m.body.schedule_id === id).length;

    test("two replicas fire every slot once, across server connections the pooler recycles", async () => {
      const ids = await insertSchedules(
        db.sql,
        Array.from({ length: 5 }, () => ({ dueInMs: 0, intervalSeconds: 1 })),
      );
      const a = start();
      const b = start();
      await waitFor("each schedule's first fires", () => ids.every((id) => slots(id) >= 2), 20_000);
      // The pooler closes each server connection once released and opens new ones.
      await bouncer.admin("RECONNECT");
      const before = Math.min(...ids.map(slots));
      await waitFor("fires after the recycling", () => ids.every((id) => slots(id) >= before + 2), 20_000);
      await a.stop();
      await b.stop();
      const keys = queue.messages.map((m) => m.raw.properties.messageId as string);
      expect(new Set(keys).size).toBe(keys.length);
      expect(a.output() + b.output()).not.toContain("prepared statement");
    });

    test("a server connection ended under the pooler: the scheduler goes on firing", async () => {
      const [id] = await insertSchedules(db.sql, [{ dueInMs: 0, intervalSeconds: 1 }]);
      const scheduler = start();
      await waitFor("a first fire", () => slots(id!) >= 1, 20_000);
      await db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = ${db.name} AND application_name = 'rune-scheduler' AND pid <> pg_backend_pid()`;
      const before = slots(id!);
      // A claim cut before its COMMIT is published again (at least once, docs/contract.md):
      // what matters here is that the scheduler reconnects through the pooler and goes on.
      await waitFor("fires after the server connection ended", () => slots(id!) >= before + 2, 20_000);
      await scheduler.stop();
    });

    test("the session limits hold through the pooler: a claim under a SHARE lock gives up after lock_timeout", async () => {
      const [id] = await insertSchedules(db.sql, [{ dueInMs: 0, intervalSeconds: 3600 }]);
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      // What a plain CREATE INDEX takes: polls read on, claims (ROW EXCLUSIVE) wait.
      const holder = db.sql.begin(async (tx) => {
        await tx`LOCK TABLE scheduled_workflows IN SHARE MODE`;
        locked();
        await released;
      });
      try {
        await isLocked;
        const scheduler = start();
        // Only lock_timeout (5 s, set per transaction) ends the wait before the 20 s deadline.
        await scheduler.waitForLine(/scheduled_workflows is locked by another session/, 12_000);
        release();
        await holder;
        await waitFor("the fire once the lock is gone", () => queue.messages.find((m) => m.body.schedule_id === id));
        await scheduler.stop();
      } finally {
        release();
        await holder.catch(() => {});
      }
    });

    test(
      mode === "session"
        ? "LISTEN through a session pooler: a NOTIFY claims at once"
        : "no LISTEN through a transaction pooler: the line says polling only; a direct address listens",
      async () => {
        const slow = { SCHEDULER_POLL_INTERVAL: "60", SCHEDULER_NOTIFY_CHANNEL: "rune_pooled" };
        if (mode === "transaction") {
          const pooled = start(slow);
          await pooled.waitForLine(
            /WARN.*LISTEN on "rune_pooled" is off: POSTGRES_POOLER=transaction gives no session to listen on; polling every 60s only/,
          );
          await pooled.waitForLine(/RabbitMQ connection established/);
          expect(pooled.output()).not.toContain("Listening for notifications");
          await pooled.stop();
        }
        const direct: Record<string, string> =
          mode === "transaction"
            ? { SCHEDULER_NOTIFY_DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${db.name}` }
            : {};
        const scheduler = start({ ...slow, ...direct });
        await scheduler.waitForLine(/Listening for notifications on "rune_pooled"/);
        await scheduler.waitForLine(/RabbitMQ connection established/);
        const [id] = await insertSchedules(db.sql, [{ dueInMs: -10, intervalSeconds: 3600 }]);
        const notifiedAt = Date.now();
        await db.sql`SELECT pg_notify('rune_pooled', '')`;
        const fired = await waitFor("the notified fire", () => queue.messages.find((m) => m.body.schedule_id === id));
        // Polls are a minute apart: a fire within seconds came from the notification.
        expect(fired.receivedAt - notifiedAt).toBeLessThan(5_000);
      },
    );
  });
}
