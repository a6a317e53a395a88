/**
 * One claim transaction: claim what is due, fire it, record the outcomes, and only then report
 * them. It keeps what the engine learns from rows and from the broker along the way: rows set
 * aside for the life of the process (they cannot be planned, or the database refused their
 * outcome) and the broker's own message size limit, once it refused a larger message.
 */
import type { PlanOptions } from "../schedule/plan.ts";
import type { Clock } from "./clock.ts";
import { DependencyError } from "./dependency.ts";
import type { Report } from "./events.ts";
import { type FireResult, fireBatch } from "./fire.ts";
import type { BatchResult, ClaimRequest, EngineStore, Publisher } from "./ports.ts";

export interface ClaimOptions extends PlanOptions {
  readonly batchSize: number;
  /** Message bytes per claim transaction (SCHEDULER_BATCH_BYTES); absent: unbounded. */
  readonly batchBytes?: number;
  readonly pauseAfterFailures: number;
}

interface ClaimedBatch {
  readonly claimed: number;
  /** More rows may be due right now: claim again. */
  readonly more: boolean;
  /** More rows are due than this batch took (its limit, or the byte budget, cut it). */
  readonly full: boolean;
}

export interface Claimer {
  /**
   * Throws what `db` throws for a database failure (TableLockedError included), and a
   * DependencyError when the broker link was lost mid-batch, after recording what was confirmed.
   */
  claimAndFire(current: Publisher): Promise<ClaimedBatch>;
  /** Rows never claimed again by this process. */
  setAsideIds(): number[];
}

interface ClaimerDeps {
  readonly store: EngineStore;
  readonly clock: Clock;
  readonly report: Report;
  readonly options: ClaimOptions;
  /** Runs a database action, turning its failure into the engine's error (and status). */
  readonly db: <T>(doing: string, action: () => Promise<T>) => Promise<T>;
}

export function createClaimer({ store, clock, report, options, db }: ClaimerDeps): Claimer {
  const setAside = new Map<number, string>();
  let brokerMaxBodyBytes: number | null = null;

  /** The message size limit in force: ours, or the broker's once it refused a larger message. */
  function planOptions(): ClaimOptions {
    if (brokerMaxBodyBytes === null || brokerMaxBodyBytes >= options.maxMessageBytes) return options;
    return { ...options, brokerMaxBodyBytes };
  }

  function setRowAside(id: number, reason: string): void {
    if (setAside.has(id)) return;
    setAside.set(id, reason);
    report({ type: "set aside", id, reason });
  }

  async function claimAndFire(current: Publisher): Promise<ClaimedBatch> {
    let fired: FireResult | null = null;
    const request: ClaimRequest = {
      limit: options.batchSize,
      budgetBytes: options.batchBytes,
      skipIds: [...setAside.keys()],
    };
    let batch: BatchResult;
    try {
      batch = await db("claiming due schedules", () =>
        store.claimBatch(request, async (rows, dbNowMs) => {
          fired = await fireBatch({ publisher: current, clock, options: planOptions() }, rows, dbNowMs);
          return fired.updates;
        }),
      );
    } finally {
      brokerMaxBodyBytes = current.maxBodyBytes ?? brokerMaxBodyBytes;
    }
    const result = fired as FireResult | null;
    if (result === null) return { claimed: 0, more: false, full: false };
    // ORDER: counters and log lines only now, after the commit that recorded these outcomes.
    report({ type: "batch committed", tally: result.tally });
    for (const row of result.unplannable) setRowAside(row.id, row.message);
    if (batch.historyLost) report({ type: "history lost", ...batch.historyLost });
    for (const row of batch.rejected) {
      report({ type: "outcome refused", id: row.id, reason: row.reason, movedOn: row.movedOn });
      if (!row.movedOn) setRowAside(row.id, `the database refused its outcome (${row.reason})`);
    }
    if (result.redeclared !== null) report({ type: "queue redeclared", reason: result.redeclared });
    // A batch given back under flow control: its rows stay due, and the engine stops claiming
    // until the broker unblocks. Not a failure of anything.
    if (result.unknown !== null && current.blocked && current.connected)
      return { claimed: batch.claimed, more: false, full: false };
    // ORDER: the confirmed rows above are committed first; only then do we give up on the link.
    if (result.unknown !== null) {
      const refused = current.refused ?? null;
      throw new DependencyError(
        "RabbitMQ",
        "publishing",
        refused === null ? new Error(`interrupted: ${result.unknown}`) : new Error(`refused: ${refused}`),
        result.updates.length > 0,
        refused !== null,
        current.where ?? null,
      );
    }
    const full = batch.locked >= options.batchSize || batch.claimed < batch.locked;
    return { claimed: batch.claimed, more: full || result.retry > 0, full };
  }

  return { claimAndFire, setAsideIds: () => [...setAside.keys()] };
}
