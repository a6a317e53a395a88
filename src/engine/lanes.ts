/**
 * Claim lanes: a drain with up to `lanes` claim transactions in flight at once. A lane is one
 * claim after another; while one lane waits for the broker's confirms, the next claims, publishes
 * and records, so the database's share of a batch overlaps the broker's (SKIP LOCKED keeps their
 * rows apart, as between replicas). A further lane starts only once a batch came back full: a
 * single due row never costs two claims. Pure control flow: the claim itself is passed in.
 */

/** What one claim did. */
export interface LaneBatch {
  readonly claimed: number;
  /** More may be due right now: claim again. */
  readonly more: boolean;
  /** The batch was cut by its limit (or byte budget): another lane would find rows too. */
  readonly full: boolean;
}

interface LaneWork {
  /** Up to this many claims in flight at once. */
  readonly lanes: number;
  /** One claim transaction. */
  claim(): Promise<LaneBatch>;
  /** Checked before every claim: stop claiming (shutdown, flow control). */
  shouldStop(): boolean;
  /** Runs in the first lane before each of its claims (the poll-time gauges of a long drain). */
  beforeFirstLaneClaim?(): Promise<void>;
}

/**
 * Claims until no lane finds more; returns the rows claimed. ORDER: a failure in one lane stops
 * the others after their transaction in flight, and is thrown only once every lane has settled,
 * so no claim outlives the reconnect that follows.
 */
export async function drainInLanes(work: LaneWork): Promise<number> {
  let claimedTotal = 0;
  let active = 0;
  let failure: { error: unknown } | null = null;
  const lanes: Promise<void>[] = [];
  const startLane = (first: boolean) => {
    active += 1;
    lanes.push(lane(first).finally(() => (active -= 1)));
  };
  /** Claims until its own batch comes back short. */
  async function lane(first: boolean): Promise<void> {
    try {
      while (failure === null && !work.shouldStop()) {
        if (first) await work.beforeFirstLaneClaim?.();
        const batch = await work.claim();
        claimedTotal += batch.claimed;
        if (!batch.more) return;
        if (batch.full && active < work.lanes) startLane(false);
      }
    } catch (error) {
      failure ??= { error };
    }
  }
  startLane(true);
  // Lanes start while others run: wait until none is left.
  for (let waited = 0; waited < lanes.length; ) {
    const pending = lanes.slice(waited);
    waited = lanes.length;
    await Promise.all(pending);
  }
  if (failure !== null) throw (failure as { error: unknown }).error;
  return claimedTotal;
}
