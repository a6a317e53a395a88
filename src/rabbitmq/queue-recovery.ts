/**
 * A queue deleted under a running link: NO_ROUTE on the default exchange means the queue is
 * gone, the environment's fault, not the rows'. It is declared again and the rows are claimed
 * again; only a queue that cannot be declared (or vanishes again at once) fails the fires.
 */
import type { PublishOutcome } from "../schedule/plan.ts";
import { queueRecovery } from "./link-rules.ts";

interface QueueRecoveryParts {
  readonly queue: string;
  readonly redeclareQueue: () => Promise<unknown>;
  readonly now: () => number;
  /** Why the link is gone, or null. */
  readonly closedReason: () => string | null;
}

/** The outcome for a batch returned NO_ROUTE (`why`: the broker's words), published at `publishedAtMs`. */
export function queueRecoverer(
  parts: QueueRecoveryParts,
): (why: string, publishedAtMs: number) => Promise<PublishOutcome> {
  const { queue } = parts;
  let declaredAt = Number.NEGATIVE_INFINITY;
  let redeclaring: Promise<PublishOutcome> | null = null;
  const retry = (why: string, redeclared: boolean): PublishOutcome => ({
    status: "retry",
    reason: `queue "${queue}" was missing (${why}) and has been declared again`,
    ...(redeclared ? { redeclared } : {}),
  });

  return async (why, publishedAtMs) => {
    // Batches in flight at once (claim lanes) share one declaration: a batch published before
    // the queue was last declared was returned because of the same disappearance.
    if (redeclaring !== null) return redeclaring;
    const decision = queueRecovery({ publishedAtMs, declaredAtMs: declaredAt, nowMs: parts.now() });
    if (decision === "already declared") return retry(why, false);
    if (decision === "vanished again") {
      return {
        status: "failed",
        reason: `returned by the broker as unroutable: ${why}; queue "${queue}" vanished again right after it was declared`,
      };
    }
    redeclaring = (async (): Promise<PublishOutcome> => {
      try {
        await parts.redeclareQueue();
        declaredAt = parts.now();
        return retry(why, true);
      } catch (error) {
        // The link went while declaring: an outage, not the rows' fault; they fire again.
        const closed = parts.closedReason();
        if (closed !== null) return { status: "unknown", reason: closed };
        return {
          status: "failed",
          reason: `returned by the broker as unroutable: ${why}; declaring queue "${queue}" failed: ${(error as Error).message}`,
        };
      }
    })().finally(() => (redeclaring = null));
    return redeclaring;
  };
}
