/** The console's read API: the session, the overview, a page of schedules, one schedule. */
import { readiness } from "../observe/http.ts";
import { listSchedules, nextUp, scheduleDetail } from "../postgres/console-queries.ts";
import { findInvalid } from "../postgres/invalid-rows.ts";
import { type ScheduleHealth, scheduleHealth } from "../postgres/stats-queries.ts";
import { describeSchedule, scheduleOf } from "../schedule/kinds.ts";
import { describeTls, tlsRegistry } from "../tls/registry.ts";
import type { ConsoleContext } from "./context.ts";
import {
  type Counts,
  type Detail,
  INVALID_BOUND,
  INVALID_TTL_MS,
  type Overview,
  type Page,
  type Session,
} from "./contract.ts";
import { encodeCursor } from "./cursor.ts";
import { listQuery, scheduleId } from "./input.ts";
import { BadRequest, json } from "./respond.ts";
import { rowView } from "./rows.ts";
import { nextSlots } from "./slots-view.ts";

/** The overview's table-wide counts scan the table: one read serves every tab for this long. */
const HEALTH_TTL_MS = 5_000;
/** How many upcoming slots the overview lists. */
const NEXT_UP = 10;

export function sessionInfo(context: ConsoleContext): Session & { ok: true } {
  return {
    ok: true,
    mode: context.config.mode,
    actions: context.config.mode === "token",
    version: context.instance.version,
  };
}

export function createReads(context: ConsoleContext) {
  let health: { at: number; value: Promise<ScheduleHealth> } | null = null;
  const cachedHealth = (): Promise<ScheduleHealth> => {
    const now = performance.now();
    if (!health || now - health.at > HEALTH_TTL_MS) {
      const value = scheduleHealth(context.sql(), context.overdueAfterMs);
      health = { at: now, value };
      // A failed read is not kept: the next request tries again.
      value.catch(() => {
        if (health?.value === value) health = null;
      });
    }
    return health.value;
  };

  /**
   * The overview without the table-wide counts: all of it from memory or an index, so the page
   * shows it at once and asks for {@link counts} next.
   */
  async function overview(): Promise<Response> {
    const { metrics, instance } = context;
    const nowMs = Date.now();
    const ready = readiness(metrics);
    let schedules: Overview["schedules"] = null;
    let scheduleError: string | null = null;
    try {
      schedules = await nextUp(context.sql(), await context.columns(), NEXT_UP);
    } catch (error) {
      scheduleError = context.explain("PostgreSQL", error);
    }
    return json({
      ok: true,
      nowMs,
      instance: {
        version: instance.version,
        startedMs: metrics.startedMs,
        uptimeSeconds: Math.round((nowMs - metrics.startedMs) / 1000),
        ready: ready.ok,
        readyReason: ready.reason,
        queue: instance.queue,
        database: { up: metrics.dbUp, hosts: instance.databaseHosts },
        broker: { up: metrics.mqUp, nodes: instance.brokerNodes },
        // What each connection's TLS is (src/tls/registry.ts): both engines, as the log says it.
        tls: tlsRegistry.entries().map(({ engine, host, state }) => ({ engine, host, summary: describeTls(state) })),
      },
      counters: {
        checks: metrics.checks,
        executions: metrics.executions,
        failures: metrics.failures,
        skipped: metrics.skipped,
        missed: metrics.missed,
        paused: metrics.paused,
        unknown: metrics.unknown,
        lastCheckMs: metrics.lastCheckMs,
        lastExecutionMs: metrics.lastExecutionMs,
        dueBacklog: metrics.dueBacklog,
        oldestOverdueSeconds: metrics.oldestOverdueSeconds,
      },
      series: context.feed.series.points(nowMs),
      schedules,
      scheduleError,
    } satisfies Overview & { ok: true });
  }

  /**
   * The table-wide counts, with the oldest due and the next up of the same snapshot (`stats`'s
   * read, kept {@link HEALTH_TTL_MS}): the figures agree with each other.
   */
  async function counts(): Promise<Response> {
    let schedules: Counts["schedules"] = null;
    let scheduleError: string | null = null;
    try {
      const h = await cachedHealth();
      const invalid = Object.values(h.counts.invalid).reduce((sum, n) => sum + n, 0) + h.cron.invalid.length;
      schedules = {
        dbNowMs: h.dbNowMs,
        total: h.counts.total,
        // The rows the engine fires, as the *active* filter lists them.
        active: h.counts.active - invalid,
        inactive: h.counts.inactive,
        dueNow: h.counts.dueNow,
        overdue: h.counts.overdue,
        failing: h.counts.failing,
        pausedByScheduler: h.counts.paused,
        invalid,
        oldestDue: h.oldestDue,
        upcoming: h.upcoming.map((row) => ({
          id: row.id,
          workflowName: row.workflowName,
          slotMs: row.slotMs,
          schedule: row.schedule,
        })),
      };
    } catch (error) {
      scheduleError = context.explain("PostgreSQL", error);
    }
    return json({ ok: true, schedules, scheduleError } satisfies Counts & { ok: true });
  }

  let invalid: { at: number; value: Promise<readonly { id: number }[]> } | null = null;

  async function list(params: URLSearchParams): Promise<Response> {
    const query = listQuery(params);
    const columns = await context.columns();
    const started = performance.now();
    const invalidIds = () => {
      if (!invalid || performance.now() - invalid.at > INVALID_TTL_MS) {
        const value = findInvalid(context.sql(), INVALID_BOUND, columns);
        invalid = { at: performance.now(), value };
        value.catch(() => (invalid = null));
      }
      return invalid.value;
    };
    const page = await listSchedules(
      context.sql(),
      columns,
      { ...query, overdueAfterMs: context.overdueAfterMs },
      invalidIds,
    );
    const serverMs = performance.now() - started;
    return json(
      {
        ok: true,
        filter: query.filter,
        rows: page.rows.map((row) => rowView(row, page.dbNowMs, context.overdueAfterMs)),
        next: page.next ? encodeCursor(page.next) : null,
        note: page.note,
      } satisfies Page & { ok: true },
      200,
      { "server-timing": `db;dur=${serverMs.toFixed(1)}` },
    );
  }

  async function detail(idText: string): Promise<Response> {
    const id = scheduleId(idText);
    const row = await scheduleDetail(context.sql(), await context.columns(), id);
    if (!row) throw new BadRequest(`schedule ${id} does not exist`, 404);
    const found = scheduleOf(row);
    const anchor = row.nextRunMs !== null && Number.isFinite(row.nextRunMs) ? row.nextRunMs : row.dbNowMs;
    // A paused schedule has no slot ahead: none would fire until it is resumed.
    const slots =
      found.ok && row.isActive
        ? nextSlots(found.schedule, anchor, row.dbNowMs, 10, {
            scheduleId: row.id,
            jitterSeconds: row.jitterSeconds ?? null,
            endsAtMs: row.endsAtMs ?? null,
            runsLeft: row.maxRuns == null ? null : Math.max(0, row.maxRuns - row.runCount),
          })
        : [];
    return json({
      ok: true,
      schedule: {
        ...rowView(row, row.dbNowMs, context.overdueAfterMs),
        kind: describeSchedule(row),
        zone: found.ok && found.schedule.kind === "cron" ? found.schedule.cron.timezone : "UTC",
        updatedMs: row.updatedMs,
        dataBytes: row.dataBytes,
      },
      dbNowMs: row.dbNowMs,
      nextSlots: slots,
      seen: context.feed.fires.of(id),
    } satisfies Detail & { ok: true });
  }

  return { overview, counts, list, detail };
}
