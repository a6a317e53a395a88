/**
 * The audit of a bulk verb (docs/contract.md §10): the history tables (and the schedules'
 * optional columns) looked up once per transaction, and the audit rows of the action written in one statement, in the order of the
 * rows, on a real PostgreSQL (the statements counted as the client sends them).
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { pauseMany, resumeMany } from "../../src/operator/bulk.ts";
import type { Sql } from "../../src/postgres/client.ts";
import { addHistoryTables } from "../support/history.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, PG } from "../support/services.ts";

const scope = testScope();
const who = { actor: "cli tester", source: "cli" } as const;

/** A client of database `name` that keeps the text of every statement it sends. */
function counting(name: string) {
  const statements: string[] = [];
  const client = postgres({
    ...PG,
    database: name,
    max: 1,
    onnotice: () => {},
    debug: (_connection, query) => statements.push(query),
  });
  scope.defer(() => client.end({ timeout: 1 }));
  return { sql: client as unknown as Sql, statements };
}

test("a bulk pause and resume of 500 rows: one lookup of the tables and columns and one audit insert each, every row audited in order", async () => {
  const { db } = await scope.setup();
  await addHistoryTables(db.sql);
  const ids = await insertSchedules(
    db.sql,
    Array.from({ length: 500 }, () => ({ dueInMs: 3_600_000, intervalSeconds: 60 })),
  );
  const { sql, statements } = counting(db.name);
  const counted = (pattern: RegExp) => statements.filter((s) => pattern.test(s)).length;

  const paused = await pauseMany(sql, [...ids].reverse(), "maintenance", who);
  expect(paused.map((p) => p.id)).toEqual(ids);
  // Was: 500 of each, one a row (the tables, the audit insert, the optional columns).
  expect([counted(/has_table_privilege/), counted(/INSERT INTO scheduler_audit/), counted(/pg_attribute/)]).toEqual([
    1, 1, 1,
  ]);

  statements.length = 0;
  await resumeMany(sql, ids, who);
  expect([counted(/has_table_privilege/), counted(/INSERT INTO scheduler_audit/), counted(/pg_attribute/)]).toEqual([
    1, 1, 1,
  ]);

  const rows = await db.sql<{ action: string; ids: number[]; reason: string | null; outcome: string; actor: string }[]>`
    SELECT action, schedule_ids AS ids, reason, outcome, actor FROM scheduler_audit ORDER BY id`;
  expect(rows).toHaveLength(1_000);
  expect(rows.slice(0, 500).map((r) => [r.action, r.ids, r.reason, r.outcome, r.actor])).toEqual(
    ids.map((id) => ["pause", [id], "maintenance", "paused", "cli tester"]),
  );
  expect(rows.slice(500).map((r) => [r.action, r.ids, r.reason])).toEqual(ids.map((id) => ["resume", [id], null]));
  expect(rows[500]!.outcome).toStartWith("resumed, next run ");
});

test("without an actor, or without the table: no audit statement at all; a rolled-back bulk action leaves no audit row", async () => {
  const { db } = await scope.setup();
  const ids = await insertSchedules(
    db.sql,
    Array.from({ length: 3 }, () => ({ dueInMs: 3_600_000, intervalSeconds: 60 })),
  );
  const { sql, statements } = counting(db.name);
  await pauseMany(sql, ids, null, who); // no table
  expect(statements.filter((s) => /scheduler_audit \(/.test(s))).toEqual([]);
  await addHistoryTables(db.sql);
  await pauseMany(sql, ids, null, null); // no actor
  expect(statements.filter((s) => /INSERT INTO scheduler_audit/.test(s))).toEqual([]);
  // One row that cannot resume (an interval of 0) fails them all: nothing changed, nothing audited.
  await db.sql`UPDATE scheduled_workflows SET interval_seconds = 0 WHERE id = ${ids[2]!}`;
  await expect(resumeMany(sql, ids, who)).rejects.toThrow();
  expect((await db.sql`SELECT 1 FROM scheduler_audit`).length).toBe(0);
});
