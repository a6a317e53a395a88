/**
 * The retention loop every replica runs (docs/design.md §22): a round now and then, each a few
 * small batches within a time budget. It never throws: a failed round is logged and the next
 * one tries again. Without the tables a round is one catalogue lookup.
 */

import type { HistoryConfig } from "../config/history.ts";
import { messageOf } from "../error-text.ts";
import type { RenewablePool } from "./client.ts";
import { historyTables } from "./history-tables.ts";
import {
  COUNT_WALK,
  PRUNE_BATCH_ROWS,
  pruneAudit,
  pruneFiresByAge,
  pruneFiresByCount,
  scheduleIdsAfter,
} from "./retention.ts";

/** Between rounds; the first comes a few seconds after start-up. */
const ROUND_INTERVAL_MS = 60_000;
const FIRST_ROUND_MS = 3_000;
/** A round stops starting batches after this long, so a backlog is pruned over several rounds. */
const ROUND_BUDGET_MS = 10_000;

/** Where a round says what it did: the service's logger (this layer does not import observe/). */
export interface PruneLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string): void;
}

export interface PruneRound {
  readonly fires: number;
  readonly audit: number;
}

export interface Pruner {
  /** One round now (also what the timer runs): rows deleted. */
  round(): Promise<PruneRound>;
  /** Stops the timer and waits for the round in flight. */
  stop(): Promise<void>;
}

export function startPruner(pool: RenewablePool, policy: HistoryConfig, log: PruneLog): Pruner {
  let walkedTo = 0;
  let stopped = false;
  let inFlight: Promise<PruneRound> | null = null;

  async function prune(): Promise<PruneRound> {
    const tables = await pool.use(historyTables);
    const until = performance.now() + ROUND_BUDGET_MS;
    const more = () => !stopped && performance.now() < until;
    let fires = 0;
    let audit = 0;
    if (tables.fires && policy.historyRetentionMs > 0) {
      for (let n = PRUNE_BATCH_ROWS; n === PRUNE_BATCH_ROWS && more(); ) {
        n = await pool.use((sql) => pruneFiresByAge(sql, policy.historyRetentionMs));
        fires += n;
      }
    }
    if (tables.fires && policy.keepPerSchedule > 0) {
      while (more()) {
        const ids = await pool.use((sql) => scheduleIdsAfter(sql, walkedTo, COUNT_WALK.schedules));
        if (ids.length === 0) {
          walkedTo = 0; // the walk is done: the next round starts it again
          break;
        }
        fires += await pool.use((sql) => pruneFiresByCount(sql, ids, policy.keepPerSchedule));
        walkedTo = ids[ids.length - 1]!;
      }
    }
    if (tables.audit && policy.auditRetentionMs > 0) {
      for (let n = PRUNE_BATCH_ROWS; n === PRUNE_BATCH_ROWS && more(); ) {
        n = await pool.use((sql) => pruneAudit(sql, policy.auditRetentionMs));
        audit += n;
      }
    }
    return { fires, audit };
  }

  function round(): Promise<PruneRound> {
    // A guard: rounds never overlap; a caller during one gets that one's result.
    inFlight ??= prune()
      .then((done) => {
        if (done.fires + done.audit > 0)
          log.info(`Pruned ${done.fires} fire history row(s) and ${done.audit} audit row(s)`, { ...done });
        return done;
      })
      .catch((error: unknown) => {
        log.warn(`Pruning the history failed (${messageOf(error)}); the next round tries again`);
        return { fires: 0, audit: 0 };
      })
      .finally(() => (inFlight = null));
    return inFlight;
  }

  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void round().then(() => schedule(ROUND_INTERVAL_MS)), ms);
  };
  schedule(FIRST_ROUND_MS);
  return {
    round,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
