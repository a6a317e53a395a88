/**
 * Turns engine events into every log line of docs/observability.md §1 and every counter and gauge, in one switch.
 * The engine decides; this says so. Lines operators of the original service grep for (docs/observability.md §1) are
 * spelled here and nowhere else.
 */

import { type Dependency, DependencyError } from "../engine/dependency.ts";
import type { BlockedBy, EngineEvent, Report } from "../engine/events.ts";
import { notFiring } from "../engine/status.ts";
import { messageOf } from "../error-text.ts";
import type { Logger } from "./log.ts";
import { applyTally, healthFailedLine, type Metrics } from "./metrics.ts";

interface ReporterDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Where each dependency is (redacted), for the lines that say it cannot be reached. */
  readonly where?: Readonly<Partial<Record<Dependency, string>>>;
  /** Turns a dependency's error into the operator's line (cause, where, what to try). */
  readonly explain?: (dependency: Dependency, error: unknown, where: string | null) => string;
  /** What the connection's TLS is, per host (src/tls/registry.ts), for the "established" lines. */
  readonly tlsOf?: (dependency: Dependency) => string | undefined;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const blockedLine = (by: BlockedBy) => `RabbitMQ${by.where ? ` node ${by.where}` : ""} blocks publishing: ${by.reason}`;
const iso = (ms: number) => new Date(ms).toISOString();

/** A report function that also remembers why the engine gave up, for the process's last line. */
type Reporter = Report & { stopReason(): string | null };

export function createReporter(deps: ReporterDeps): Reporter {
  const { log, metrics } = deps;
  let stopReason: string | null = null;
  /** Invalid rows already warned about: once per row per process (docs/design.md §11). */
  const warnedInvalid = new Set<number>();

  /** The server or node a failure concerns when it names one, else every configured one. */
  const whereOf = (dependency: Dependency | "scheduler", error?: unknown) =>
    dependency === "scheduler"
      ? undefined
      : ((error instanceof DependencyError ? error.where : null) ?? deps.where?.[dependency]);
  const describe = (error: unknown): string => {
    if (error instanceof DependencyError) {
      const explained = deps.explain?.(error.dependency, error.cause, error.where) ?? messageOf(error.cause);
      return `${error.doing}: ${explained}`;
    }
    return messageOf(error);
  };

  function report(event: EngineEvent): void {
    switch (event.type) {
      case "status":
        // Up means usable: a dependency the current outage fails on is down, however connected.
        metrics.dbUp = event.status.database === "up" && event.status.failing !== "PostgreSQL";
        metrics.mqUp = event.status.broker === "up" && event.status.failing !== "RabbitMQ";
        metrics.notFiring = notFiring(event.status);
        return;
      case "connected":
        // The engine tries RabbitMQ as soon as PostgreSQL answers (and only then).
        metrics.mqTried = true;
        // The node in use, when the connection could say; else the configured list.
        log.info(
          event.dependency === "PostgreSQL"
            ? "Database connection pool established"
            : "RabbitMQ connection established",
          { where: event.where ?? whereOf(event.dependency), tls: deps.tlsOf?.(event.dependency) },
        );
        return;
      case "link lost":
        metrics.mqTried = true;
        log.error("RabbitMQ connection lost; reconnecting", {
          reason: event.reason,
          where: event.where ?? deps.where?.RabbitMQ,
        });
        return;
      case "outage began":
        log.error(
          healthFailedLine({
            dbUp: event.status.database === "up" && event.status.failing !== "PostgreSQL",
            mqUp: event.status.broker === "up" && event.status.failing !== "RabbitMQ",
            mqTried: metrics.mqTried,
          }),
        );
        return;
      case "retrying": {
        if (event.dependency === "RabbitMQ") metrics.mqTried = true;
        const limit = event.limit === null ? "" : `/${event.limit}`;
        log.error(
          `${event.dependency} failed (attempt ${event.attempt}${limit}); retrying every second, next report in ${seconds(event.nextReportMs)}`,
          {
            where: whereOf(event.dependency, event.error),
            error: describe(event.error),
          },
        );
        return;
      }
      case "recovered":
        log.info(
          `Recovered after ${event.failures} failed attempt(s)${event.outageMs === null ? "" : ` (${seconds(event.outageMs)})`}`,
        );
        return;
      case "gave up":
        stopReason = `${event.dependency === "scheduler" ? "the scheduler's own cycle" : event.dependency} ${event.why}: ${describe(event.error)}`;
        log.critical(`${event.dependency} ${event.why}; giving up`, {
          where: whereOf(event.dependency, event.error),
          error: describe(event.error),
        });
        return;
      case "blocked":
        log.warn(`${blockedLine(event.by)}; not claiming until it lifts`);
        return;
      case "still blocked":
        log.warn(`${blockedLine(event.by)} for ${seconds(event.forMs)} now; still not claiming`);
        return;
      case "queue redeclared":
        log.warn(
          `RabbitMQ ${event.reason}: messages that were ready in it when it went are gone, although their schedules were recorded as fired; this batch fires again`,
        );
        return;
      case "unblocked":
        log.info(`RabbitMQ unblocked after ${seconds(event.afterMs)}; claiming again`);
        return;
      case "table locked":
        log.warn(
          "scheduled_workflows is locked by another session (a CREATE INDEX without CONCURRENTLY, an ALTER TABLE?); nothing is claimed or published until it is released",
          { waiting_on: event.doing },
        );
        return;
      case "table unlocked":
        log.info(`scheduled_workflows is no longer locked after ${seconds(event.afterMs)}; claiming again`);
        return;
      case "polled": {
        const { dbNowMs, nextSlotMs, dueCount } = event.result;
        metrics.checks += 1;
        metrics.lastCheckMs = dbNowMs;
        metrics.dueBacklog = dueCount;
        metrics.oldestOverdueSeconds = nextSlotMs !== null && nextSlotMs <= dbNowMs ? (dbNowMs - nextSlotMs) / 1000 : 0;
        return;
      }
      case "batch committed":
        reportBatch(event.tally);
        return;
      case "outcome refused":
        metrics.failures += 1;
        if (event.movedOn) {
          log.warn(
            `Schedule ${event.id}: the database refused its outcome (${event.reason}); moved on to its next slot with last_error saying so`,
          );
        }
        return;
      case "history lost":
        log.warn(
          `Fire history not written for ${event.fires} fire(s), recorded on their rows all the same (${event.reason}); the history is written again once the next invalid-row scan finds scheduler_fire_history writable`,
        );
        return;
      case "set aside":
        log.warn(`Schedule ${event.id} is set aside until the scheduler restarts: ${event.reason}`);
        return;
      case "scanned":
        metrics.invalidRows = event.invalid.length + event.setAside;
        metrics.pausedNow = event.pausedNow;
        for (const row of event.invalid) {
          if (warnedInvalid.has(row.id)) continue;
          warnedInvalid.add(row.id);
          log.warn(`Schedule ${row.id} is active but invalid (${row.reason}); it will not be fired until fixed`);
        }
        return;
    }
  }

  return Object.assign(report, { stopReason: () => stopReason });

  function reportBatch(tally: Extract<EngineEvent, { type: "batch committed" }>["tally"]): void {
    applyTally(metrics, tally);
    const [first] = tally.confirmed;
    if (first) {
      const maxLag = tally.confirmed.reduce((max, fire) => Math.max(max, fire.lagSeconds), 0);
      const others = [
        tally.failures > 0 && `${tally.failures} failed`,
        tally.skipped > 0 && `${tally.skipped} skipped`,
      ].filter(Boolean);
      log.info(
        `Fired ${tally.confirmed.length} schedule(s)${others.length > 0 ? ` (${others.join(", ")})` : ""}: first ${first.id} for ${iso(first.slotMs)}, lag ${Math.round(first.lagSeconds * 1000)} ms (max ${Math.round(maxLag * 1000)} ms)`,
      );
      for (const fire of tally.confirmed) {
        log.debug(
          `fired schedule ${fire.id} messageId=${fire.messageId} traceparent=${fire.traceparent} lag_ms=${Math.round(fire.lagSeconds * 1000)}`,
        );
      }
    }
    if (tally.failed.length > 0) {
      log.warn(`${tally.failed.length} fire(s) failed and moved on`, { first: tally.failed[0] });
      for (const failure of tally.failed) log.debug(`fire failed: ${failure}`);
    }
  }
}
