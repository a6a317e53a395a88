import { beforeAll, describe, expect, test } from "bun:test";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, type TestQueue, waitFor } from "../support/services.ts";

const scope = sharedScope();
let db: TestDatabase;
let queue: TestQueue;

beforeAll(async () => {
  ({ db, queue } = await scope.setup({ consume: true }));
});

describe("run against real PostgreSQL and RabbitMQ", () => {
  test("publishes a due row once with the exact body and properties, and records it", async () => {
    const [id] = await insertSchedules(db.sql, [
      { dueInMs: -1_500, intervalSeconds: 3600, data: { url: "https://x", n: [1, 2] }, name: "nightly-report" },
    ]);
    const [before] = await db.sql<{ slot: string; workflow_id: number }[]>`
      SELECT to_char(next_run_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS slot, workflow_id FROM scheduled_workflows WHERE id = ${id!}`;
    scope.start({ ...db.env, ...queue.env, SCHEDULER_POLL_INTERVAL: "1" });
    const message = await waitFor("the message", () => queue.messages[0]);
    const slotMs = Date.parse(before!.slot);

    expect(Object.keys(message.body)).toEqual([
      "workflow_id",
      "schedule_id",
      "workflow_data",
      "triggered_at",
      "trigger_source",
      "workflow_name",
      "scheduled_for",
      "run_number",
      "missed_runs",
    ]);
    expect(message.body).toMatchObject({
      workflow_id: before!.workflow_id,
      schedule_id: id,
      workflow_data: { url: "https://x", n: [1, 2] },
      trigger_source: "scheduler",
      workflow_name: "nightly-report",
      scheduled_for: before!.slot,
      run_number: 1,
      missed_runs: 0,
    });
    expect(Date.parse(message.body.triggered_at as string)).toBeGreaterThanOrEqual(slotMs);
    const { properties, fields } = message.raw;
    expect(fields.exchange).toBe("");
    expect(fields.routingKey).toBe(queue.name);
    expect(properties).toMatchObject({
      contentType: "application/json",
      deliveryMode: 2,
      messageId: `${id}:${slotMs}`,
      appId: "rune-scheduler",
      headers: { "x-schedule-id": id, "x-scheduled-for": before!.slot },
    });
    expect(Math.abs(properties.timestamp * 1000 - Date.now())).toBeLessThan(60_000);

    const row = await waitFor("the row to advance", async () => {
      const [r] = await db.sql<
        {
          next_ms: number;
          run_count: number;
          failure_count: number;
          last_error: string | null;
          last_run: boolean;
          updated: boolean;
        }[]
      >`
        SELECT (extract(epoch FROM next_run_at) * 1000)::float8 AS next_ms, run_count, failure_count, last_error,
               last_run_at IS NOT NULL AS last_run, updated_at >= next_run_at - interval '3600 seconds' AS updated
          FROM scheduled_workflows WHERE id = ${id!}`;
      return r!.run_count === 1 ? r : null;
    });
    // Anchored to the slot, not to the fire time (sub-millisecond digits of the slot are kept).
    expect(Math.floor(row.next_ms)).toBe(slotMs + 3_600_000);
    expect(row).toMatchObject({ run_count: 1, failure_count: 0, last_error: null, last_run: true, updated: true });
    // Once: nothing more arrives over a few more polls.
    await Bun.sleep(2_500);
    expect(queue.messages).toHaveLength(1);
  });
});
