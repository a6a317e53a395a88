/**
 * docs/contract.md §1, docs/design.md §2: `timestamp` and `timestamptz` columns both work, and neither the host's time zone
 * nor the database's default zone moves a fire or the next slot.
 */
import { expect, test } from "bun:test";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();

async function fireOnce(columnType: "timestamp" | "timestamptz", hostZone: string, databaseZone: string) {
  const { db, queue } = await scope.setup({ consume: true });
  await db.sql.unsafe(`ALTER DATABASE ${db.name} SET timezone = '${databaseZone}'`);
  if (columnType === "timestamptz") {
    for (const column of ["next_run_at", "last_run_at", "updated_at"]) {
      await db.sql.unsafe(
        `ALTER TABLE scheduled_workflows ALTER COLUMN ${column} TYPE timestamptz USING ${column} AT TIME ZONE 'UTC'`,
      );
    }
  }
  await insertSchedules(db.sql, [{ dueInMs: 1_500, intervalSeconds: 3600 }]);
  const [before] = await db.sql<
    { slot_ms: number }[]
  >`SELECT (extract(epoch FROM next_run_at) * 1000)::float8 AS slot_ms FROM scheduled_workflows`;
  scope.start({ ...db.env, ...queue.env, TZ: hostZone });
  const message = await waitFor("the message", () => queue.messages[0], 10_000);
  const slotMs = Math.floor(before!.slot_ms);
  expect(Date.parse(message.body.scheduled_for as string)).toBe(slotMs);
  // On time by the real clock: neither early (a zone ahead) nor hours late (a zone behind).
  expect(message.receivedAt - slotMs).toBeGreaterThanOrEqual(-5);
  expect(message.receivedAt - slotMs).toBeLessThan(1_000);
  const [after] = await waitFor("the update", async () => {
    const rows = await db.sql<{ next_ms: number; last_run_ms: number | null }[]>`
      SELECT (extract(epoch FROM next_run_at) * 1000)::float8 AS next_ms,
             (extract(epoch FROM last_run_at) * 1000)::float8 AS last_run_ms FROM scheduled_workflows`;
    return rows[0]!.last_run_ms !== null ? rows : null;
  });
  expect(Math.floor(after!.next_ms)).toBe(slotMs + 3_600_000);
  expect(Math.abs(after!.last_run_ms! - Date.now())).toBeLessThan(10_000);
}

test("timestamp columns holding UTC, host in UTC−10 and database defaulting to UTC+14", () =>
  fireOnce("timestamp", "Pacific/Honolulu", "Pacific/Kiritimati"));
test("timestamptz columns, host in UTC+14 and database defaulting to UTC−10", () =>
  fireOnce("timestamptz", "Pacific/Kiritimati", "Pacific/Honolulu"));
