/** The shapes the console API answers with (see src/console/api.ts and actions.ts). */
import type { Instant } from "./format.ts";

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

/** The figures an index answers: the oldest due slot and the next ten up. */
export interface NextUp {
  dbNowMs: number;
  oldestDue: { id: number; slotMs: number; lateSeconds: number } | null;
  upcoming: { id: number; workflowName: string; slotMs: number; schedule: string }[];
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
    database: { up: boolean; hosts: string[] };
    broker: { up: boolean; nodes: string[] };
  };
  counters: Record<string, number | null>;
  series: Point[];
  schedules: NextUp | null;
  scheduleError: string | null;
}

/** The table-wide counts, with the oldest due and the next ten up of the same snapshot. */
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
  state: "active" | "paused" | "ended" | "invalid" | "failing" | "overdue";
  invalidReason: string | null;
  schedule: string;
  nextRunMs: Instant;
  runCount: number;
  failureCount: number;
  lastRunMs: Instant;
  lastError: string | null;
}

export interface Page {
  rows: Row[];
  next: string | null;
  note: string | null;
}

export interface Detail {
  dbNowMs: number;
  schedule: Row & { kind: string; zone: string; updatedMs: number | null; dataBytes: number | null };
  /** `dueMs`: when a jittered slot fires; `last`: the schedule ends after this slot. */
  nextSlots: { ms: number; wall: string; offset: string; dst: "gap" | "overlap" | null; dueMs?: number; last?: true }[];
  seen: { slotMs: number; lagMs: number; messageId: string; firedAtMs: number }[];
}

export interface ActionResult {
  text: string;
  slots?: { slot: string; messageId: string }[];
  published?: boolean;
}
