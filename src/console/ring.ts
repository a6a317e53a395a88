/**
 * Pure, bounded memory for what this replica has seen: a fixed-size ring, the fires per minute
 * and lag percentiles of the last hour, and the last fires of each schedule. Nothing here grows
 * with the table or with time.
 */

/** The last `capacity` items pushed, oldest first. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;
  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`capacity must be a positive integer`);
    this.items = new Array(capacity);
  }
  push(item: T): void {
    if (this.count < this.capacity) {
      this.items[(this.start + this.count) % this.capacity] = item;
      this.count += 1;
    } else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  get size(): number {
    return this.count;
  }
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.items[(this.start + i) % this.capacity] as T);
    return out;
  }
}

const MINUTE = 60_000;
export const SERIES_MINUTES = 60;
/** Lag buckets grow by 15 %: a percentile read from them is within 15 % of the true value. */
const GROWTH = 1.15;
const FIRST_BOUND_MS = 1;
const BUCKETS = Math.ceil(Math.log(3_600_000 / FIRST_BOUND_MS) / Math.log(GROWTH)) + 1;

/** Upper bound (ms) of lag bucket `i`; the last bucket holds everything above an hour. */
const bucketBound = (i: number): number => FIRST_BOUND_MS * GROWTH ** i;

function bucketOf(lagMs: number): number {
  if (!(lagMs > FIRST_BOUND_MS)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(lagMs / FIRST_BOUND_MS) / Math.log(GROWTH)));
}

interface MinutePoint {
  /** The minute's start, epoch ms. */
  readonly minuteMs: number;
  readonly fires: number;
  /** Lag percentiles of the minute's fires, ms (a bucket's upper bound), null without fires. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/** Fires per minute and a lag histogram per minute, for the last {@link SERIES_MINUTES} minutes. */
export class MinuteSeries {
  private readonly minutes = new Float64Array(SERIES_MINUTES).fill(-1);
  private readonly fires = new Uint32Array(SERIES_MINUTES);
  private readonly lags = new Uint32Array(SERIES_MINUTES * BUCKETS);

  record(firedAtMs: number, lagMs: number): void {
    const minute = Math.floor(firedAtMs / MINUTE);
    const slot = ((minute % SERIES_MINUTES) + SERIES_MINUTES) % SERIES_MINUTES;
    if (this.minutes[slot] !== minute) {
      this.minutes[slot] = minute;
      this.fires[slot] = 0;
      this.lags.fill(0, slot * BUCKETS, (slot + 1) * BUCKETS);
    }
    this.fires[slot]! += 1;
    this.lags[slot * BUCKETS + bucketOf(lagMs)]! += 1;
  }

  /** One point per minute, oldest first, ending with the minute of `nowMs`. */
  points(nowMs: number): MinutePoint[] {
    const current = Math.floor(nowMs / MINUTE);
    const out: MinutePoint[] = [];
    for (let minute = current - SERIES_MINUTES + 1; minute <= current; minute++) {
      const slot = ((minute % SERIES_MINUTES) + SERIES_MINUTES) % SERIES_MINUTES;
      const fires = this.minutes[slot] === minute ? this.fires[slot]! : 0;
      out.push({
        minuteMs: minute * MINUTE,
        fires,
        p50Ms: fires === 0 ? null : this.percentile(slot, fires, 0.5),
        p99Ms: fires === 0 ? null : this.percentile(slot, fires, 0.99),
      });
    }
    return out;
  }

  private percentile(slot: number, total: number, q: number): number {
    const rank = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.lags[slot * BUCKETS + i]!;
      if (seen >= rank) return Math.round(bucketBound(i) * 10) / 10;
    }
    return Math.round(bucketBound(BUCKETS - 1));
  }
}

interface SeenFire {
  readonly slotMs: number;
  readonly lagMs: number;
  readonly messageId: string;
  readonly firedAtMs: number;
}

/** The last `perSchedule` fires of the `maxSchedules` schedules fired most recently. */
export class FireLog {
  private readonly bySchedule = new Map<number, Ring<SeenFire>>();
  constructor(
    readonly maxSchedules = 1_000,
    readonly perSchedule = 10,
  ) {}
  add(id: number, fire: SeenFire): void {
    let ring = this.bySchedule.get(id);
    if (ring) this.bySchedule.delete(id);
    else ring = new Ring<SeenFire>(this.perSchedule);
    ring.push(fire);
    // Map order is insertion order: re-inserting keeps the most recent last, the oldest first.
    this.bySchedule.set(id, ring);
    if (this.bySchedule.size > this.maxSchedules) this.bySchedule.delete(this.bySchedule.keys().next().value!);
  }
  /** Newest first. */
  of(id: number): SeenFire[] {
    return (this.bySchedule.get(id)?.toArray() ?? []).reverse();
  }
  get schedules(): number {
    return this.bySchedule.size;
  }
}
