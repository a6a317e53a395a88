/**
 * Rows and messages that cannot be fired normally (docs/design.md §11, §10):
 * each gets its handling, the normal rows beside them keep firing, and nothing loops hot.
 */
import { expect, test } from "bun:test";
import amqp from "amqplib";
import { testScope } from "../support/scope.ts";
import { bulkInsert, insertSchedules, MQ_URL, waitFor } from "../support/services.ts";

const scope = testScope();

const stderrLines = (output: string) => output.split("\n").filter((line) => / (WARNING|ERROR|CRITICAL) /.test(line));

function nested(depth: number): unknown {
  let value: unknown = { leaf: true };
  for (let i = 0; i < depth; i++) value = i % 2 ? { [`k${i}`]: value } : [value];
  return value;
}

const UNICODE = {
  "clé ключ 键": "𝄞 😀👩🏽‍💻 עברית العربية e\u0301 \u2028 \u2029 \ufeff \u200d",
  quotes: "\"'`\\/<>&",
  astral: ["\u{1F600}", "\u{10FFFF}"],
};

test("invalid rows are never claimed and warned about once; NULL, deep and unusual-Unicode data fire; too large fails with the reason", async () => {
  const rig = await scope.rig();
  const sql = rig.db.sql;
  const [workflow] = await sql<
    { id: number }[]
  >`INSERT INTO workflows (name, workflow_data) VALUES ('ok', '{"a": 1}') RETURNING id`;
  const wf = workflow!.id;
  const due = "(now() AT TIME ZONE 'UTC') - interval '1 second'";
  const invalid = await sql<{ id: number }[]>`
    INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds) VALUES
      (${wf}, ${sql.unsafe(due)}, NULL),
      (${wf}, ${sql.unsafe(due)}, 0),
      (${wf}, ${sql.unsafe(due)}, -5),
      (${wf}, NULL, 60),
      (999999, ${sql.unsafe(due)}, 60)
    RETURNING id`;
  const [nullData] = await insertSchedules(sql, [
    { dueInMs: -1_000, intervalSeconds: 3600, data: null, name: "null-data" },
  ]);
  await sql`UPDATE workflows SET workflow_data = NULL WHERE name = 'null-data'`;
  const [deep, unicode, tooLarge, normal] = await insertSchedules(sql, [
    { dueInMs: -1_000, intervalSeconds: 3600, data: nested(1_000), name: "deep" },
    { dueInMs: -1_000, intervalSeconds: 3600, data: UNICODE, name: "unicode ✓" },
    { dueInMs: -1_000, intervalSeconds: 3600, data: { blob: "x".repeat(20_000) }, name: "too-large" },
    { dueInMs: -1_000, intervalSeconds: 3600, name: "normal" },
  ]);
  const before = await sql`SELECT * FROM scheduled_workflows WHERE id IN ${sql(invalid.map((r) => r.id))} ORDER BY id`;

  const scheduler = rig.start({ SCHEDULER_MAX_MESSAGE_BYTES: "16384" });
  await waitFor("four messages", () => rig.queue.messages.length === 4, 10_000);
  const checks = (await rig.metric("checks_total"))!;
  // Several more polls: the invalid rows stay due all along, and must not make a hot loop.
  await waitFor("four more polls", async () => ((await rig.metric("checks_total")) ?? 0) >= checks + 4, 10_000, 100);

  const bySchedule = new Map(rig.queue.messages.map((m) => [m.body.schedule_id as number, m.body]));
  expect([...bySchedule.keys()].sort()).toEqual([nullData!, deep!, unicode!, normal!].sort());
  expect(bySchedule.get(nullData!)!.workflow_data).toBeNull();
  expect(bySchedule.get(deep!)!.workflow_data).toEqual(nested(1_000));
  expect(bySchedule.get(unicode!)!.workflow_data).toEqual(UNICODE);
  expect(bySchedule.get(unicode!)!.workflow_name).toBe("unicode ✓");

  const rows = new Map((await rig.rows()).map((r) => [r.id, r]));
  for (const id of [nullData!, deep!, unicode!, normal!])
    expect(rows.get(id)).toMatchObject({ run_count: 1, failure_count: 0, last_error: null });
  expect(rows.get(tooLarge!)).toMatchObject({ run_count: 1, failure_count: 1, due: false });
  expect(rows.get(tooLarge!)!.last_error).toMatch(
    /^message of \d+ bytes exceeds SCHEDULER_MAX_MESSAGE_BYTES=16384; not sent$/,
  );
  // Invalid rows: not a column changed.
  expect(await sql`SELECT * FROM scheduled_workflows WHERE id IN ${sql(invalid.map((r) => r.id))} ORDER BY id`).toEqual(
    before,
  );

  // The warnings come through the stderr pipe, which may lag what /metrics and the rows show.
  await waitFor(
    "the invalid-row warnings",
    () => invalid.every(({ id }) => scheduler.output().includes(`Schedule ${id} is active but invalid`)),
    5_000,
  );
  const output = scheduler.output();
  for (const { id } of invalid) expect(output.split(`Schedule ${id} is active but invalid`).length - 1).toBe(1);
  expect(output).toContain("(interval_seconds is NULL)");
  expect(output).toContain("(interval_seconds <= 0)");
  expect(output).toContain("(next_run_at is NULL)");
  expect(output).toContain("(workflow missing)");
  // Five invalid-row warnings and one for the failed fire; nothing repeats poll after poll.
  expect(stderrLines(output)).toHaveLength(6);
  expect(await rig.metric("invalid_schedules")).toBe(5);
  expect(scheduler.proc.exitCode).toBeNull();
}, 30_000);

test("a queue deleted under a running scheduler is declared again: the fire is retried, not failed, and lands in the new queue", async () => {
  const rig = await scope.rig();
  const scheduler = rig.start();
  await scheduler.waitForLine(/RabbitMQ connection established/);
  const admin = await amqp.connect(MQ_URL);
  scope.defer(() => admin.close());
  const channel = await admin.createChannel();
  await channel.deleteQueue(rig.queue.name);
  const [lost] = await insertSchedules(rig.db.sql, [{ dueInMs: -100, intervalSeconds: 3600 }]);
  const fired = await waitFor("the fire", async () => {
    const row = (await rig.rows()).find((r) => r.id === lost);
    return row && row.run_count === 1 ? row : null;
  });
  // The environment's fault, not the row's: nothing is marked failed.
  expect(fired).toMatchObject({ failure_count: 0, last_error: null, due: false });
  const declared = await channel.checkQueue(rig.queue.name);
  expect(declared.messageCount).toBe(1);
  const message = await channel.get(rig.queue.name, { noAck: true });
  expect(message === false ? null : message.properties.messageId).toStartWith(`${lost}:`);
  expect(scheduler.proc.exitCode).toBeNull();
  expect(scheduler.output()).not.toMatch(/CRITICAL|Uncaught/);
}, 30_000);

test("a queue deleted in the middle of a burst (two claim lanes in flight) is declared again once, and no row is marked failed", async () => {
  const rig = await scope.rig();
  await bulkInsert(rig.db, 3_000, 3600, "(now() AT TIME ZONE 'UTC') + interval '2 seconds'");
  const scheduler = rig.start();
  await scheduler.waitForLine(/RabbitMQ connection established/);
  const admin = await amqp.connect(MQ_URL);
  scope.defer(() => admin.close());
  const channel = await admin.createChannel();
  await waitFor("the burst under way", () => rig.queue.messages.length > 0, 15_000, 1);
  await channel.deleteQueue(rig.queue.name);
  const [done] = await waitFor(
    "every row recorded",
    async () => {
      const rows = await rig.db.sql<{ fired: number; failed: number }[]>`
      SELECT count(*) FILTER (WHERE run_count = 1)::int AS fired, count(*) FILTER (WHERE failure_count > 0)::int AS failed
        FROM scheduled_workflows`;
      return rows[0]!.fired + rows[0]!.failed === 3_000 ? rows : null;
    },
    30_000,
    100,
  );
  expect(done).toEqual({ fired: 3_000, failed: 0 });
  expect((await channel.checkQueue(rig.queue.name)).messageCount).toBeGreaterThan(0);
  expect(scheduler.output()).not.toMatch(/vanished again|CRITICAL|Uncaught/);
}, 60_000);

test("a full queue with x-overflow reject-publish: the nack is a failed fire with the reason, the scheduler keeps running", async () => {
  // No consumer: the first message fills the queue, the second is refused.
  const { db, queue } = await scope.setup({
    queue: { arguments: { "x-max-length": 1, "x-overflow": "reject-publish" } },
  });
  const [first] = await insertSchedules(db.sql, [{ dueInMs: -2_000, intervalSeconds: 3600 }]);
  const scheduler = scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" });
  await waitFor("the first fire", async () => {
    const [row] = await db.sql<{ run_count: number }[]>`SELECT run_count FROM scheduled_workflows WHERE id = ${first!}`;
    return row!.run_count === 1;
  });
  const [second] = await insertSchedules(db.sql, [{ dueInMs: -100, intervalSeconds: 3600 }]);
  const row = await waitFor("the refused fire", async () => {
    const [r] = await db.sql<{ failure_count: number; run_count: number; last_error: string | null }[]>`
      SELECT failure_count, run_count, last_error FROM scheduled_workflows WHERE id = ${second!}`;
    return r!.failure_count === 1 ? r : null;
  });
  expect(row).toMatchObject({
    run_count: 1,
    last_error: "nacked by the broker (queue full, rejected or broker error)",
  });
  expect(scheduler.proc.exitCode).toBeNull();
  expect(scheduler.output()).not.toMatch(/CRITICAL|Uncaught/);
}, 30_000);
