/**
 * What the console learns from the engine's events, without asking the database: this replica's
 * fires per minute and lag, the last fires of each schedule, and a signal for the live views.
 * Fed by the same synchronous report the log and metrics are; it only records and notifies.
 */
import type { EngineEvent } from "../engine/events.ts";
import { FireLog, MinuteSeries } from "./ring.ts";

/** What changed: the schedules just fired (their detail views refresh), or the instance's state. */
interface Change {
  readonly ids: readonly number[];
  readonly status: boolean;
}

type ChangeListener = (change: Change) => void;

export interface ConsoleFeed {
  report(event: EngineEvent): void;
  /** Returns the unsubscribe function; a closed tab must call it. */
  subscribe(listener: ChangeListener): () => void;
  readonly subscribers: number;
  readonly series: MinuteSeries;
  readonly fires: FireLog;
}

export function createFeed(): ConsoleFeed {
  const series = new MinuteSeries();
  const fires = new FireLog();
  const listeners = new Set<ChangeListener>();
  const notify = (change: Change) => {
    for (const listener of listeners) {
      // A broken stream must not break the engine's report, nor the other streams.
      try {
        listener(change);
      } catch {}
    }
  };
  return {
    series,
    fires,
    get subscribers() {
      return listeners.size;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    report(event) {
      switch (event.type) {
        case "batch committed": {
          const { confirmed, failed, executions, failures, skipped } = event.tally;
          for (const fire of confirmed) {
            const lagMs = fire.lagSeconds * 1000;
            const firedAtMs = fire.slotMs + lagMs;
            series.record(firedAtMs, lagMs);
            fires.add(fire.id, { slotMs: fire.slotMs, lagMs, messageId: fire.messageId, firedAtMs });
          }
          if (executions + failures + skipped + failed.length > 0 && listeners.size > 0)
            notify({ ids: confirmed.map((fire) => fire.id), status: true });
          return;
        }
        case "status":
        case "scanned":
        case "polled":
          if (listeners.size > 0) notify({ ids: [], status: true });
          return;
        default:
          return;
      }
    },
  };
}
