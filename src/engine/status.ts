/**
 * The engine's own view of itself, kept in one place: every change goes through `set`, and a
 * change that readiness or the `*_up` gauges depend on is reported as a "status" event.
 */
import type { Clock } from "./clock.ts";
import type { EngineStatus, Report } from "./events.ts";

export interface StatusKeeper {
  get(): EngineStatus;
  set(change: Partial<EngineStatus>): void;
  /** The loop went round, a batch or a poll completed: the liveness clock restarts. */
  progressed(): void;
}

export function initialStatus(nowLocal: number): EngineStatus {
  return {
    database: "down",
    broker: "down",
    failures: 0,
    failing: null,
    outageSinceLocal: null,
    lastProgressLocal: nowLocal,
    tableLocked: false,
    blockedBy: null,
  };
}

/**
 * Why this replica cannot fire now although both links are up, or null: what `/readyz` and the
 * HEALTHCHECK line say. A link that is down says so itself ("not connected").
 */
export function notFiring(status: EngineStatus): string | null {
  if (status.broker === "blocked") {
    const node = status.blockedBy?.where ? ` node ${status.blockedBy.where}` : "";
    return `RabbitMQ${node} blocks publishing: ${status.blockedBy?.reason ?? "resource alarm"}`;
  }
  if (status.failing !== null) {
    const what = status.failing === "scheduler" ? "its own cycle" : status.failing;
    return `not firing: ${what} failed ${status.failures} time(s) in a row (see the log)`;
  }
  if (status.tableLocked) return "not firing: scheduled_workflows is locked by another session";
  return null;
}

const REPORTED: readonly (keyof EngineStatus)[] = ["database", "broker", "failing", "tableLocked", "blockedBy"];

export function createStatusKeeper(clock: Clock, report: Report): StatusKeeper {
  let status = initialStatus(clock.local());
  return {
    get: () => status,
    set(change) {
      const before = status;
      status = { ...status, ...change };
      if (REPORTED.some((key) => status[key] !== before[key]) || notFiring(status) !== notFiring(before))
        report({ type: "status", status });
    },
    progressed() {
      status = { ...status, lastProgressLocal: clock.local() };
    },
  };
}
