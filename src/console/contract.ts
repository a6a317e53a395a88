/**
 * The console's contract, the one home of what the server (src/console/) and the page
 * (src/console/web/) must agree on: the API's shapes, the filters and the states, the bounds of
 * its inputs, how a schedule id is read and how a duration is written. Plain data, types and pure
 * functions: the page bundles it and imports nothing else from src/, and this file imports only
 * src/units.ts, which imports nothing (docs/development.md, "Import rule").
 */
import { duration, MAX_INT4, parseScheduleId } from "../units.ts";

export { duration, MAX_INT4, parseScheduleId };

/** The list's filters. Each lists the rows the overview's tile of the same name counts. */
export const FILTERS = ["all", "active", "paused", "invalid", "failing", "overdue"] as const;
export type Filter = (typeof FILTERS)[number];

/**
 * A row's one state: ended or paused before invalid before failing before overdue. `ended`: the
 * scheduler deactivated it at its ends_at or max_runs (docs/design.md §24); the paused filter lists it.
 */
export const STATES = ["active", "paused", "ended", "invalid", "failing", "overdue"] as const;
export type ScheduleState = (typeof STATES)[number];

/** Rows a list page holds by default, and at most. */
export const PAGE_DEFAULT = 50;
export const PAGE_MAX = 200;
/** The longest search text. */
export const MAX_SEARCH = 200;
/** The longest pause reason. */
export const MAX_REASON = 500;
/** The largest action body, bytes. */
export const MAX_BODY_BYTES = 16 * 1024;
/** The most invalid rows the invalid filter lists: finding them scans the table. */
export const INVALID_BOUND = 1_000;
/** How long one scan for invalid rows serves the invalid filter's pages (and the filters that skip them). */
export const INVALID_TTL_MS = 30_000;
/** The longest workflow name the page shows before cutting it (the detail shows its length). */
export const NAME_SHOWN = 120;

/** An instant as the API sends it: epoch ms, `"infinity"`/`"-infinity"`, or null for NULL. */
export type Instant = number | string | null;

/** Every refusal and failure: a status that says whose fault it is, and why. */
export interface Refusal {
  ok: false;
  error: string;
  /** An action's failure kind (`inactive`, `unknown id`, `broker refused`, …). */
  failure?: string;
}

export interface Session {
  mode: "token" | "read-only";
  actions: boolean;
  version: string;
}

export interface Point {
  minuteMs: number;
  fires: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface SlotRow {
  id: number;
  workflowName: string;
  slotMs: number;
  schedule: string;
}

/** The figures an index answers: the oldest due slot and the next ten up. */
export interface NextUp {
  dbNowMs: number;
  oldestDue: { id: number; slotMs: number; lateSeconds: number } | null;
  upcoming: readonly SlotRow[];
}

/** The overview's first answer: everything but the table-wide counts (see {@link Counts}). */
export interface Overview {
  nowMs: number;
  instance: {
    version: string;
    startedMs: number;
    uptimeSeconds: number;
    ready: boolean;
    readyReason: string;
    queue: string;
    database: { up: boolean; hosts: readonly string[] };
    broker: { up: boolean; nodes: readonly string[] };
    /** The TLS of each connection target, both engines, as the log line says it (src/tls/registry.ts). */
    tls: readonly { engine: "postgresql" | "rabbitmq"; host: string; summary: string }[];
  };
  counters: Record<string, number | null>;
  series: readonly Point[];
  schedules: NextUp | null;
  scheduleError: string | null;
}

/**
 * The table-wide counts, with the oldest due and the next ten up of the same snapshot. `active`
 * is the rows the engine fires (active and valid), so total = active + inactive + invalid.
 */
export interface Counts {
  schedules:
    | (NextUp & {
        total: number;
        active: number;
        inactive: number;
        dueNow: number;
        overdue: number;
        failing: number;
        pausedByScheduler: number;
        invalid: number;
      })
    | null;
  scheduleError: string | null;
}

export interface Row {
  id: number;
  workflowId: number | null;
  workflowName: string | null;
  isActive: boolean;
  state: ScheduleState;
  invalidReason: string | null;
  schedule: string;
  nextRunMs: Instant;
  runCount: number;
  failureCount: number;
  lastRunMs: Instant;
  lastError: string | null;
}

export interface Page {
  filter: Filter;
  rows: readonly Row[];
  next: string | null;
  note: string | null;
}

export interface NextSlot {
  ms: number;
  wall: string;
  offset: string;
  dst: "gap" | "overlap" | null;
  /** With jitter: when the slot fires (slot + offset, docs/design.md §23). */
  dueMs?: number;
  /** The schedule's last slot: after it the row ends (ends_at or max_runs, docs/design.md §24). */
  last?: true;
}

export interface Fire {
  slotMs: number;
  lagMs: number;
  messageId: string;
  firedAtMs: number;
}

/** One schedule. A paused one has no `nextSlots`: none of them would fire until it is resumed. */
export interface Detail {
  dbNowMs: number;
  schedule: Row & { kind: string; zone: string; updatedMs: number | null; dataBytes: number | null };
  nextSlots: readonly NextSlot[];
  seen: readonly Fire[];
}

/** One schedule as a bulk action's preview lists it (docs/design.md §25). */
export interface BulkTarget {
  id: number;
  workflowId: number | null;
  workflowName: string | null;
  isActive: boolean;
  schedule: string;
  nextRunAt: string | null;
}

/** A bulk action's answer: the preview (`preview: true`, nothing changed), or each row's outcome. */
export interface BulkResult {
  action: string;
  preview?: true;
  targets: readonly BulkTarget[];
  results?: readonly { id: number; text: string }[];
}

export interface ActionResult {
  text: string;
  slots?: readonly { slot: string; messageId: string }[];
  published?: boolean;
}

/** One fire of a schedule's history (docs/contract.md §10), as the history page sends it. */
export interface HistoryFire {
  recordedAt: string;
  slot: string;
  messageId: string | null;
  outcome: string;
  reason: string | null;
  missedRuns: number;
  sentAt: string | null;
  confirmedAt: string | null;
  lagSeconds: number | null;
  replica: string;
  runNumber: number | null;
}

/** A page of a schedule's fires, newest first; `next` is the cursor of the older page, or null. */
export interface HistoryPage {
  ok: true;
  /** False when the database has no history table. */
  available: boolean;
  fires: readonly HistoryFire[];
  next: string | null;
}

/** One operator action of the audit. */
export interface ActivityEntry {
  id: number;
  at: string;
  actor: string;
  source: string;
  action: string;
  scheduleIds: readonly number[];
  reason: string | null;
  outcome: string;
  detail: Record<string, unknown> | null;
}

export interface ActivityPage {
  ok: true;
  available: boolean;
  actions: readonly ActivityEntry[];
  next: string | null;
}

/** Fires a history page holds, and actions an activity page holds. */
export const HISTORY_PAGE = 25;
export const ACTIVITY_PAGE = 50;
