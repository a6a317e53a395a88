/**
 * The engine's two links: PostgreSQL checked with a round trip when it was lost, and the broker
 * link opened again when it is gone. It also follows the broker's flow control
 * (connection.blocked): named once, reminded at growing intervals, and ended by the unblock.
 */
import type { Alarm } from "./alarm.ts";
import type { Clock } from "./clock.ts";
import { brokerConnectFailure } from "./dependency.ts";
import type { Report } from "./events.ts";
import type { EngineStore, Publisher } from "./ports.ts";
import type { StatusKeeper } from "./status.ts";
import { BLOCKED_REMINDER_CAP_MS, type EngineTiming } from "./timing.ts";

interface LinksDeps {
  readonly store: EngineStore;
  /** `onChange`: the link was lost, blocked or unblocked; the engine looks again at once. */
  readonly connectPublisher: (onChange: () => void) => Promise<Publisher>;
  readonly status: StatusKeeper;
  readonly clock: Clock;
  readonly report: Report;
  readonly alarm: Alarm;
  readonly timing: EngineTiming;
  /** Runs a database action, turning its failure into the engine's error (and status). */
  readonly db: <T>(doing: string, action: () => Promise<T>) => Promise<T>;
}

export interface Links {
  /** Both links usable, reconnecting what is not; throws the failure of the one that cannot be. */
  ensure(): Promise<Publisher>;
  /**
   * True while the broker applies flow control: claiming would only lock rows the broker holds.
   * Says so once, then at growing intervals; says when it lifts.
   */
  isBlocked(current: Publisher): boolean;
  /** Closes the broker link (shutdown). */
  close(): Promise<void>;
}

export function createLinks(deps: LinksDeps): Links {
  const { store, status, clock, report, alarm, db } = deps;
  let publisher: Publisher | null = null;
  let blockedSinceLocal: number | null = null;
  let nextReminderLocal = 0;
  let reminderMs = deps.timing.blockedReminderMs;

  /** The broker link changed (lost, blocked, unblocked): readiness now, and a look unless backing off. */
  const onPublisherChange = () => {
    if (!publisher?.connected) status.set({ broker: "down", blockedBy: null });
    else if (publisher.blocked) isBlocked(publisher);
    alarm.wake();
  };

  async function ensure(): Promise<Publisher> {
    if (status.get().database === "down") {
      const server = await db("connecting", () => store.ping());
      status.set({ database: "up" });
      report({ type: "connected", dependency: "PostgreSQL", where: server ?? null });
    }
    if (!publisher?.connected) {
      status.set({ broker: "down", blockedBy: null });
      const stale = publisher;
      publisher = null;
      if (stale) report({ type: "link lost", reason: stale.closedReason ?? "unknown", where: stale.where ?? null });
      await stale?.close().catch(() => {});
      try {
        publisher = await deps.connectPublisher(onPublisherChange);
      } catch (error) {
        throw brokerConnectFailure(error);
      }
      status.set({ broker: "up" });
      report({ type: "connected", dependency: "RabbitMQ", where: publisher.where ?? null });
    }
    return publisher;
  }

  function isBlocked(current: Publisher): boolean {
    const now = clock.local();
    if (current.blocked) {
      const by = { reason: current.blockedReason ?? "resource alarm", where: current.where ?? null };
      if (blockedSinceLocal === null) {
        blockedSinceLocal = now;
        reminderMs = deps.timing.blockedReminderMs;
        nextReminderLocal = now + reminderMs;
        report({ type: "blocked", by });
      } else if (now >= nextReminderLocal) {
        reminderMs = Math.min(BLOCKED_REMINDER_CAP_MS, reminderMs * 2);
        nextReminderLocal = now + reminderMs;
        report({ type: "still blocked", by, forMs: now - blockedSinceLocal });
      }
      status.set({ broker: "blocked", blockedBy: by });
      return true;
    }
    if (blockedSinceLocal !== null) {
      report({ type: "unblocked", afterMs: now - blockedSinceLocal });
      blockedSinceLocal = null;
    }
    if (current.connected) status.set({ broker: "up", blockedBy: null });
    return false;
  }

  async function close(): Promise<void> {
    const current = publisher;
    publisher = null;
    status.set({ broker: "down", blockedBy: null });
    await current?.close().catch(() => {});
  }

  return { ensure, isBlocked, close };
}
