/**
 * Rows and messages for the benchmark: schedules inserted in bulk with `generate_series`/`unnest`,
 * and the exact message the scheduler would send for them (built by src/schedule/message.ts), so the
 * publish ceiling moves messages of the same size and shape.
 */
import { buildMessage, type OutgoingMessage } from "../../src/schedule/message.ts";
import type { Sql } from "./env.ts";

/** A workflow document of about `bytes` bytes of JSON (PostgreSQL's rendering adds a few). */
export function workflowData(bytes: number): Record<string, unknown> {
  const base = {
    steps: [{ action: "http", url: "https://example.com/hooks/nightly-report", method: "POST" }],
    retries: 3,
  };
  const pad = Math.max(0, bytes - JSON.stringify({ ...base, pad: "" }).length);
  return { ...base, pad: "x".repeat(pad) };
}

/** One workflow per schedule, ids 1..count (the join then touches a distinct row per fire). */
export async function insertWorkflows(sql: Sql, count: number, payloadBytes: number): Promise<void> {
  await sql`
    INSERT INTO workflows (id, name, workflow_data)
    SELECT g, 'bench-' || g, ${sql.json(workflowData(payloadBytes) as never)}::jsonb FROM generate_series(1, ${count}::int) g`;
}

/** `count` schedules, all at the slot `slotMs` (epoch ms), with an interval that keeps them from firing twice. */
export async function insertSchedulesAt(
  sql: Sql,
  count: number,
  slotMs: number,
  intervalSeconds = 86_400,
): Promise<void> {
  await sql`
    INSERT INTO scheduled_workflows (id, workflow_id, next_run_at, interval_seconds)
    SELECT g, g, to_timestamp(${slotMs}::float8 / 1000) AT TIME ZONE 'UTC', ${intervalSeconds}::int
      FROM generate_series(1, ${count}::int) g`;
}

/** One schedule per slot in `slotsMs`, ids 1..n. */
export async function insertSchedulesList(
  sql: Sql,
  slotsMs: readonly number[],
  intervalSeconds = 86_400,
): Promise<void> {
  await sql`
    INSERT INTO scheduled_workflows (id, workflow_id, next_run_at, interval_seconds)
    SELECT s.ord, s.ord, to_timestamp(s.ms / 1000) AT TIME ZONE 'UTC', ${intervalSeconds}::int
      FROM unnest(${sql.array(slotsMs as number[], 701)}::float8[]) WITH ORDINALITY AS s(ms, ord)`;
}

/** Rows due with next_run_at ≤ `slotMs` that have not yet been advanced. */
export async function remainingDue(sql: Sql, slotMs: number): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM scheduled_workflows
     WHERE is_active AND next_run_at <= to_timestamp(${slotMs}::float8 / 1000) AT TIME ZONE 'UTC'`;
  return row!.n;
}

/** Whether any active row is still due at `slotMs` (stops at the first one). */
export async function anyDue(sql: Sql, slotMs: number): Promise<boolean> {
  const [row] = await sql<{ any: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM scheduled_workflows
                    WHERE is_active AND next_run_at <= to_timestamp(${slotMs}::float8 / 1000) AT TIME ZONE 'UTC') AS any`;
  return row!.any;
}

export async function dbNowMs(sql: Sql): Promise<number> {
  const [row] = await sql<{ ms: number }[]>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`;
  return row!.ms;
}

/**
 * The messages the scheduler would build for schedules 1..count of `payloadBytes`, using
 * PostgreSQL's own rendering of the document (as the claim query returns it).
 */
export async function sampleMessages(sql: Sql, count: number, payloadBytes: number): Promise<OutgoingMessage[]> {
  const [row] = await sql<
    { text: string }[]
  >`SELECT ${sql.json(workflowData(payloadBytes) as never)}::jsonb::text AS text`;
  const now = Date.now();
  const messages: OutgoingMessage[] = new Array(count);
  for (let i = 0; i < count; i++) {
    messages[i] = buildMessage(
      {
        id: i + 1,
        workflowId: i + 1,
        slotMs: now,
        intervalSeconds: 86_400,
        runCount: 0,
        failureCount: 0,
        workflowName: `bench-${i + 1}`,
        workflowData: row!.text,
      },
      { nowMs: now, missed: 0 },
    );
  }
  return messages;
}

/**
 * `count` small JSON bodies of exactly `bytes` bytes each (unless `bytes` is below the bare
 * fields): ids, a name and a time, padded; for the small-message publish ceiling.
 */
export function smallMessages(count: number, bytes: number): Buffer[] {
  const at = new Date().toISOString();
  const bodies: Buffer[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const bare = `{"workflow_id":${i + 1},"schedule_id":${i + 1},"workflow_name":"bench-${i + 1}","scheduled_for":"${at}","run_number":1,"pad":""}`;
    bodies[i] = Buffer.from(`${bare.slice(0, -2)}${"x".repeat(Math.max(0, bytes - bare.length))}"}`);
  }
  return bodies;
}

/** A small deterministic PRNG (mulberry32), so every run spreads its slots the same way. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
