/** Many schedulers on one database and broker, and crashes: docs/design.md §12. */
import { expect, test } from "bun:test";
import { testScope } from "../support/scope.ts";
import { bulkInsert, waitFor } from "../support/services.ts";

const scope = testScope();
const start = scope.start;
const setup = () => scope.setup({ consume: true });

test("three schedulers publish each (schedule, slot) once and miss none: 300 rows, 1 s interval, 6 s", async () => {
  const { db, queue } = await setup();
  // The first slot is 1.5 s out, so all three are polling before anything is due.
  await bulkInsert(db, 300, 1, "date_trunc('second', now() AT TIME ZONE 'UTC') + interval '2 seconds'");
  const [{ first_ms }] =
    (await db.sql`SELECT (extract(epoch FROM min(next_run_at)) * 1000)::float8 AS first_ms FROM scheduled_workflows`) as unknown as [
      { first_ms: number },
    ];
  const env = { ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" };
  const replicas = [start(env), start(env), start(env)];
  await Promise.all(replicas.map((r) => r.waitForLine(/RabbitMQ connection established/)));
  const windowEnd = first_ms + 6_000; // slots first, first+1s, …, first+5s: six per schedule
  await waitFor("the window to pass", () => Date.now() > windowEnd + 1_500, 15_000, 100);
  await Promise.all(replicas.map((r) => r.stop("SIGTERM")));

  const inWindow = queue.messages.filter((m) => Date.parse(m.body.scheduled_for as string) < windowEnd);
  const ids = inWindow.map((m) => m.raw.properties.messageId as string);
  const duplicates = ids.length - new Set(ids).size;
  expect(duplicates).toBe(0);
  expect(new Set(ids).size).toBe(300 * 6);
  // Each slot's message id is `<schedule>:<slot ms>`, so "none missed" means every schedule has all six.
  const perSchedule = new Map<number, number>();
  for (const m of inWindow)
    perSchedule.set(m.body.schedule_id as number, (perSchedule.get(m.body.schedule_id as number) ?? 0) + 1);
  expect([...perSchedule.values()].every((n) => n === 6)).toBe(true);
  expect(replicas.map((r) => r.proc.exitCode)).toEqual([0, 0, 0]);
}, 60_000);

test("SIGKILL in the middle of 5,000 due rows, then a new scheduler: every row published, duplicates share the message id", async () => {
  const { db, queue } = await setup();
  await bulkInsert(db, 5_000, 3600, "now() AT TIME ZONE 'UTC' - interval '1 minute'");
  const env = { ...db.env, ...queue.env, SCHEDULER_BATCH_SIZE: "200" };
  const first = start(env);
  await waitFor("some messages", () => queue.messages.length >= 500, 30_000, 5);
  first.proc.kill("SIGKILL");
  await first.exited;
  const [{ advanced }] =
    (await db.sql`SELECT count(*)::int AS advanced FROM scheduled_workflows WHERE run_count = 1`) as unknown as [
      { advanced: number },
    ];
  expect(advanced).toBeLessThan(5_000); // the kill really landed mid-way

  start(env);
  await waitFor(
    "every row advanced",
    async () => {
      const [{ left }] =
        (await db.sql`SELECT count(*)::int AS left FROM scheduled_workflows WHERE run_count = 0`) as unknown as [
          { left: number },
        ];
      return left === 0;
    },
    60_000,
    100,
  );
  await waitFor(
    "the last confirms to be delivered",
    () => new Set(queue.messages.map((m) => m.body.schedule_id)).size === 5_000,
    10_000,
  );

  const bySchedule = new Map<number, Set<string>>();
  for (const m of queue.messages) {
    const set = bySchedule.get(m.body.schedule_id as number) ?? new Set<string>();
    set.add(m.raw.properties.messageId as string);
    bySchedule.set(m.body.schedule_id as number, set);
  }
  expect(bySchedule.size).toBe(5_000);
  // A schedule published twice (killed after the confirm, before the commit) used one id both times.
  expect([...bySchedule.values()].every((ids) => ids.size === 1)).toBe(true);
  const [{ wrong }] =
    (await db.sql`SELECT count(*)::int AS wrong FROM scheduled_workflows WHERE run_count <> 1 OR failure_count <> 0`) as unknown as [
      { wrong: number },
    ];
  expect(wrong).toBe(0);
}, 120_000);
