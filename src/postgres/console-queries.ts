/**
 * The console's reads: one page of schedules by keyset, one schedule, and the overview's
 * figures. Each page walks an index in (next_run_at, id) order and stops after the page, so it
 * never reads the table; the filters that cannot (invalid rows, a name search) are bounded and
 * say so in `note`.
 */
import { type Filter, INVALID_BOUND, INVALID_TTL_MS, MAX_INT4 } from "../console/contract.ts";
import { describeSchedule, scheduleOf } from "../schedule/kinds.ts";
import type { Sql } from "./client.ts";
import { findInvalid } from "./invalid-rows.ts";
import { claimable, cronFields, type PolicyRowColumns, policyOfRow, type ScheduleColumns } from "./store.ts";
import { INT4 } from "./types.ts";

/** Where a page of the list starts: `next_run_at` as PostgreSQL printed it (null: the rows without one, listed last), and the id. */
export interface Cursor {
  readonly next: string | null;
  readonly id: number;
}

/** A schedule row as the console reads it (never its workflow_data). */
export interface ScheduleRecord {
  readonly id: number;
  readonly workflowId: number | null;
  readonly workflowName: string | null;
  readonly hasWorkflow: boolean;
  readonly isActive: boolean;
  /** next_run_at, epoch ms; ±Infinity for ±infinity, null when NULL. */
  readonly nextRunMs: number | null;
  readonly intervalSeconds: number | null;
  readonly cronExpression: string | null;
  readonly timezone: string | null;
  readonly runCount: number;
  readonly failureCount: number;
  readonly lastRunMs: number | null;
  readonly lastError: string | null;
  /** The policy columns (docs/contract.md §11), NULL when unset or absent. */
  readonly misfirePolicy?: string | null;
  readonly misfireGraceSeconds?: number | null;
  readonly endsAtMs?: number | null;
  readonly maxRuns?: number | null;
  readonly jitterSeconds?: number | null;
}
/** A name search looks at this many schedules (in next-run order) per page, then offers to go on. */
const SEARCH_WINDOW = 10_000;

interface ListRequest {
  readonly filter: Filter;
  /** Digits: that id; other text: workflow names containing it (case-insensitive). */
  readonly search: string;
  readonly after: Cursor | null;
  readonly limit: number;
  readonly overdueAfterMs: number;
}

interface ListPage {
  readonly rows: (ScheduleRecord & { readonly nextText: string | null })[];
  /** Where the next page starts, or null at the end. */
  readonly next: Cursor | null;
  /** Set when the page is bounded rather than complete (the invalid filter, a name search). */
  readonly note: string | null;
  readonly dbNowMs: number;
}

type RawRow = PolicyRowColumns & {
  id: number;
  workflow_id: number | null;
  workflow_name: string | null;
  has_workflow: boolean;
  is_active: boolean;
  next_ms: number | null;
  next_text: string | null;
  interval_seconds: number | null;
  cron_expression: string | null;
  timezone: string | null;
  run_count: number | null;
  failure_count: number | null;
  last_run_ms: number | null;
  last_error: string | null;
};

const record = (r: RawRow) => ({
  id: r.id,
  workflowId: r.workflow_id,
  workflowName: r.workflow_name,
  hasWorkflow: r.has_workflow,
  isActive: r.is_active,
  nextRunMs: r.next_ms,
  nextText: r.next_text,
  intervalSeconds: r.interval_seconds,
  cronExpression: r.cron_expression,
  timezone: r.timezone,
  runCount: r.run_count ?? 0,
  failureCount: r.failure_count ?? 0,
  lastRunMs: r.last_run_ms,
  lastError: r.last_error,
  ...policyOfRow(r),
});

function columnsOf(sql: Sql, columns: ScheduleColumns) {
  return sql`sw.id, sw.workflow_id, w.name AS workflow_name, w.id IS NOT NULL AS has_workflow, sw.is_active,
    (extract(epoch FROM sw.next_run_at) * 1000)::float8 AS next_ms, sw.next_run_at::text AS next_text,
    sw.interval_seconds, ${cronFields(sql, columns)}, sw.run_count, sw.failure_count,
    (extract(epoch FROM sw.last_run_at) * 1000)::float8 AS last_run_ms, sw.last_error`;
}

/**
 * The filter on scheduled_workflows alone (usable inside the index walk), and the one on the join.
 * *active* and *overdue* are the rows the engine fires, as the overview counts them: claimable,
 * with a workflow, and not among the invalid rows (`skipIds`: the cron rows the parser refuses).
 */
function filterOf(sql: Sql, request: ListRequest, columns: ScheduleColumns, skipIds: readonly number[]) {
  switch (request.filter) {
    case "active":
      return { sw: claimable(sql, skipIds, columns), w: sql`w.id IS NOT NULL` };
    case "paused":
      return { sw: sql`NOT sw.is_active`, w: sql`true` };
    case "failing":
      return { sw: sql`sw.failure_count > 0`, w: sql`true` };
    case "overdue":
      return {
        sw: sql`${claimable(sql, skipIds, columns)}
          AND sw.next_run_at < now() - make_interval(secs => ${request.overdueAfterMs / 1000})`,
        w: sql`w.id IS NOT NULL`,
      };
    default:
      return { sw: sql`true`, w: sql`true` };
  }
}

/** The invalid rows' ids, for the filters that list only what the engine fires. */
async function skippedIds(filter: Filter, invalidIds: InvalidIds): Promise<number[]> {
  if (filter !== "active" && filter !== "overdue") return [];
  return (await invalidIds()).map((row) => row.id);
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The invalid rows, by id; the console keeps one scan for a while, so paging them does not scan again. */
type InvalidIds = () => Promise<readonly { readonly id: number }[]>;

export async function listSchedules(
  sql: Sql,
  columns: ScheduleColumns,
  request: ListRequest,
  invalidIds: InvalidIds = () => findInvalid(sql, INVALID_BOUND, columns),
): Promise<ListPage> {
  const [clock] = await sql<{ now_ms: number }[]>`SELECT (extract(epoch FROM now()) * 1000)::float8 AS now_ms`;
  const dbNowMs = clock!.now_ms;
  const search = request.search.trim();
  if (/^\d{1,10}$/.test(search)) {
    const id = Number(search);
    const rows = id > MAX_INT4 ? [] : await byIds(sql, columns, [id]);
    return { rows, next: null, note: null, dbNowMs };
  }
  if (request.filter === "invalid") return invalidPage(sql, columns, request, dbNowMs, invalidIds);
  const filter = filterOf(sql, request, columns, await skippedIds(request.filter, invalidIds));
  const name = search === "" ? null : `%${escapeLike(search)}%`;
  const nameMatch = name === null ? sql`true` : sql`w.name ILIKE ${name}`;
  const window = name === null ? null : SEARCH_WINDOW;
  const rows: ListPage["rows"][number][] = [];
  const after = request.after;

  // Rows with a next_run_at, in (next_run_at, id) order; then those without one, by id.
  for (const phase of ["timed", "untimed"] as const) {
    if (phase === "timed" && after !== null && after.next === null) continue;
    const keyset =
      phase === "timed"
        ? after === null
          ? sql`sw.next_run_at IS NOT NULL`
          : sql`(sw.next_run_at, sw.id) > (${after.next}::text::timestamp, ${after.id}::int4)`
        : sql`sw.next_run_at IS NULL AND sw.id > ${after?.next === null ? after.id : 0}`;
    // The cursor's text is cast in SQL: a parameter typed timestamp would be parsed by the
    // driver as a JavaScript Date, losing the microseconds (and the next page would repeat a row).
    // A timestamptz column's text carries "+00", which timestamp input ignores: the session is UTC.
    const order = phase === "timed" ? sql`sw.next_run_at, sw.id` : sql`sw.id`;
    const wanted = request.limit + 1 - rows.length;
    const inner = sql`SELECT * FROM scheduled_workflows sw WHERE ${filter.sw} AND ${keyset} ORDER BY ${order}`;
    const found = await sql<RawRow[]>`
      SELECT ${columnsOf(sql, columns)}
        FROM (${inner} ${window === null ? sql`` : sql`LIMIT ${window}`}) sw
        LEFT JOIN workflows w ON w.id = sw.workflow_id
       WHERE ${filter.w} AND ${nameMatch}
       ORDER BY ${order}
       LIMIT ${wanted}`;
    rows.push(...found.map(record));
    if (rows.length > request.limit) {
      const shown = rows.slice(0, request.limit);
      const last = shown[shown.length - 1]!;
      return { rows: shown, next: { next: last.nextText, id: last.id }, note: null, dbNowMs };
    }
    if (window !== null) {
      // The window ran out before the page filled: go on from its last row next time.
      const [edge] = await sql<{ id: number; next_text: string | null }[]>`
        SELECT sw.id, sw.next_run_at::text AS next_text FROM (${inner} LIMIT ${window}) sw
         ORDER BY ${order} OFFSET ${window - 1} LIMIT 1`;
      if (edge) {
        return {
          rows,
          next: { next: edge.next_text, id: edge.id },
          note: `searched ${window.toLocaleString("en")} schedules from here; Next searches further`,
          dbNowMs,
        };
      }
    }
  }
  return { rows, next: null, note: null, dbNowMs };
}

async function invalidPage(
  sql: Sql,
  columns: ScheduleColumns,
  request: ListRequest,
  dbNowMs: number,
  invalidIds: InvalidIds,
): Promise<ListPage> {
  const invalid = await invalidIds();
  const afterId = request.after?.id ?? 0;
  const ids = invalid.map((row) => row.id).filter((id) => id > afterId);
  const pageIds = ids.slice(0, request.limit);
  const rows = (await byIds(sql, columns, pageIds)).sort((a, b) => a.id - b.id);
  const last = rows[rows.length - 1];
  const note =
    invalid.length >= INVALID_BOUND
      ? `finding invalid rows scans the table (read at most every ${INVALID_TTL_MS / 1000} s): the first ${INVALID_BOUND.toLocaleString("en")} by id are listed`
      : `finding invalid rows scans the table (read at most every ${INVALID_TTL_MS / 1000} s); listed by id`;
  return { rows, next: ids.length > request.limit && last ? { next: null, id: last.id } : null, note, dbNowMs };
}

async function byIds(sql: Sql, columns: ScheduleColumns, ids: readonly number[]) {
  if (ids.length === 0) return [];
  const rows = await sql<RawRow[]>`
    SELECT ${columnsOf(sql, columns)}
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.id = ANY(${sql.array(ids as number[], INT4)}::int4[])`;
  return rows.map(record);
}

interface DetailRecord extends ScheduleRecord {
  readonly updatedMs: number | null;
  /** Size of workflow_data as text, bytes; its content is never read. */
  readonly dataBytes: number | null;
  readonly dbNowMs: number;
}

export async function scheduleDetail(sql: Sql, columns: ScheduleColumns, id: number): Promise<DetailRecord | null> {
  const [row] = await sql<(RawRow & { updated_ms: number | null; data_bytes: number | null; now_ms: number })[]>`
    SELECT ${columnsOf(sql, columns)}, (extract(epoch FROM sw.updated_at) * 1000)::float8 AS updated_ms,
           octet_length(w.workflow_data::text) AS data_bytes, (extract(epoch FROM now()) * 1000)::float8 AS now_ms
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.id = ${id}`;
  if (!row) return null;
  return { ...record(row), updatedMs: row.updated_ms, dataBytes: row.data_bytes, dbNowMs: row.now_ms };
}

type RawSlot = {
  id: number;
  workflow_name: string;
  slot_ms: number;
  next_text: string;
  interval_seconds: number | null;
  cron_expression: string | null;
  timezone: string | null;
};

interface SlotRow {
  readonly id: number;
  readonly workflowName: string;
  readonly slotMs: number;
  readonly schedule: string;
}

interface NextUp {
  readonly dbNowMs: number;
  readonly oldestDue: (Pick<SlotRow, "id" | "slotMs"> & { readonly lateSeconds: number }) | null;
  readonly upcoming: readonly SlotRow[];
}

/** Rows a walk for {@link nextUp} reads at a time. */
const WALK_BATCH = 100;

/**
 * The overview's figures that an index answers, with the meaning `stats` gives them (the oldest
 * due slot, the next `limit` not yet due): valid active rows by store.claimable with a workflow,
 * less the cron rows the parser refuses. `stats` learns those by a scan first; here a walk in
 * (next_run_at, id) order passes over the refused rows it meets, so the cost is the rows looked
 * at, not the table.
 */
export async function nextUp(sql: Sql, columns: ScheduleColumns, limit: number): Promise<NextUp> {
  return sql.begin("isolation level repeatable read read only", async (tx) => {
    const t = tx as unknown as Sql;
    const [clock] = await t<{ now_ms: number }[]>`SELECT floor(extract(epoch FROM now()) * 1000)::float8 AS now_ms`;
    const dbNowMs = clock!.now_ms;
    const walk = async (due: boolean, wanted: number): Promise<SlotRow[]> => {
      const found: SlotRow[] = [];
      let after: { text: string; id: number } | null = null;
      while (found.length < wanted) {
        // The cursor's text is cast in SQL, as the list's is: a Date would lose the microseconds.
        const keyset =
          after === null ? t`true` : t`(sw.next_run_at, sw.id) > (${after.text}::text::timestamp, ${after.id}::int4)`;
        const rows: RawSlot[] = await t<RawSlot[]>`
          SELECT sw.id, w.name AS workflow_name, floor(extract(epoch FROM sw.next_run_at) * 1000)::float8 AS slot_ms,
                 sw.next_run_at::text AS next_text, sw.interval_seconds, ${cronFields(t, columns)}
            FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
           WHERE ${claimable(t, [], columns)} AND ${due ? t`sw.next_run_at <= now()` : t`sw.next_run_at > now()`}
             AND ${keyset}
           ORDER BY sw.next_run_at, sw.id
           LIMIT ${WALK_BATCH}`;
        for (const r of rows) {
          const kind = { intervalSeconds: r.interval_seconds, cronExpression: r.cron_expression, timezone: r.timezone };
          if (r.cron_expression !== null && !scheduleOf({ ...kind, intervalSeconds: null }).ok) continue;
          found.push({ id: r.id, workflowName: r.workflow_name, slotMs: r.slot_ms, schedule: describeSchedule(kind) });
        }
        const last: RawSlot | undefined = rows[rows.length - 1];
        if (rows.length < WALK_BATCH || !last) break;
        after = { text: last.next_text, id: last.id };
      }
      return found.slice(0, wanted);
    };
    const [due] = await walk(true, 1);
    return {
      dbNowMs,
      oldestDue: due
        ? { id: due.id, slotMs: due.slotMs, lateSeconds: Math.max(0, (dbNowMs - due.slotMs) / 1000) }
        : null,
      upcoming: await walk(false, limit),
    };
  }) as Promise<NextUp>;
}
