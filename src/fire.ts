/**
 * One claimed batch: plan every row, publish what is to be published, and turn the broker's
 * answers into row updates and counters. Runs inside the claim transaction (see store.claimBatch).
 */
import type { Publisher } from "./broker.ts";
import type { Clock } from "./clock.ts";
import type { Logger } from "./log.ts";
import type { ClaimedRow } from "./message.ts";
import { observeLag, type Metrics } from "./metrics.ts";
import { planFire, rowUpdate, type FirePlan, type PlanOptions, type PublishOutcome, type RowUpdate } from "./plan.ts";

export interface FireDeps {
  readonly publisher: Publisher;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly options: PlanOptions & { readonly pauseAfterFailures: number };
}

export interface FireResult {
  /** The rows to write back: every row whose outcome is known. */
  readonly updates: RowUpdate[];
  /** Why some outcome is unknown (the link was lost), or null when every outcome is known. */
  readonly unknown: string | null;
}

export async function fireBatch(deps: FireDeps, rows: ClaimedRow[], dbNowMs: number): Promise<FireResult> {
  const { publisher, clock, metrics, log, options } = deps;
  const plans = rows.map((row) => planFire(row, dbNowMs, options));
  const toPublish = plans.filter((plan): plan is Extract<FirePlan, { kind: "publish" }> => plan.kind === "publish");
  const outcomes = await publisher.publishBatch(toPublish.map((plan) => plan.message));
  const published = new Map<FirePlan, PublishOutcome>(toPublish.map((plan, i) => [plan, outcomes[i]!]));
  const firedAt = clock.now();
  const updates: RowUpdate[] = [];
  const failures: string[] = [];
  let unknown: string | null = null;
  for (const plan of plans) {
    const outcome = published.get(plan);
    const update = rowUpdate(plan, outcome, options.pauseAfterFailures);
    if (update === null) {
      unknown = outcome?.status === "unknown" ? outcome.reason : "no outcome";
      metrics.unknown += 1;
      continue;
    }
    updates.push(update);
    metrics.missed += plan.missed;
    if (update.outcome === "skipped") metrics.skipped += 1;
    else {
      metrics.lastExecutionMs = firedAt;
      if (update.outcome === "ok") {
        metrics.executions += 1;
        observeLag(metrics, (firedAt - plan.row.slotMs) / 1000);
      } else {
        metrics.failures += 1;
        failures.push(`schedule ${plan.row.id}: ${update.error}`);
      }
      if (update.pause) metrics.paused += 1;
    }
  }
  if (failures.length > 0) {
    log.warn(`${failures.length} fire(s) failed and moved on`, { first: failures[0] });
    for (const failure of failures) log.debug(`fire failed: ${failure}`);
  }
  return { updates, unknown };
}
