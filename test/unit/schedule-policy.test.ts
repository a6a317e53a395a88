import { describe, expect, test } from "bun:test";
import { invalidReason, stateOf } from "../../src/console/rows.ts";
import { nextSlots } from "../../src/console/slots-view.ts";
import { dueAt, jitterOffsetMs } from "../../src/schedule/jitter.ts";
import { describeSchedule, scheduleOf } from "../../src/schedule/kinds.ts";
import type { ClaimedRow } from "../../src/schedule/message.ts";
import { planFire, rowUpdate, UnplannableRow } from "../../src/schedule/plan.ts";
import { CATCH_UP_LIMIT, jitterProblem } from "../../src/schedule/policy.ts";

const T0 = Date.UTC(2026, 0, 5, 9, 0);
const MIN = 60_000;
const OPTIONS = { misfireGraceMs: 0, maxMessageBytes: 1 << 20 };

const row = (over: Partial<ClaimedRow> = {}): ClaimedRow => ({
  id: 7,
  workflowId: 1,
  slotMs: T0,
  intervalSeconds: 60,
  runCount: 0,
  failureCount: 0,
  workflowName: "w",
  workflowData: "{}",
  ...over,
});

interface Sent {
  readonly id: string;
  readonly scheduledFor: string;
  readonly missed: number;
  readonly atMs: number;
  readonly dueAt?: string;
}

/**
 * The engine's claim cycle on plain data with fake time: the row is claimed when it is due and
 * the database is reachable (outside [down, up)), planned, confirmed by the broker and written
 * back, until `untilMs` or until the row ends.
 */
function simulate(start: ClaimedRow, untilMs: number, outage: readonly [number, number] | null, graceMs = 0) {
  let current: ClaimedRow = start;
  const sent: Sent[] = [];
  let skipped = 0;
  let missed = 0;
  let ended: string | null = null;
  for (let claims = 0; claims < 100_000; claims++) {
    let at = dueAt(current.id, current.slotMs, current.jitterSeconds);
    if (outage && at >= outage[0] && at < outage[1]) at = outage[1];
    if (at > untilMs) break;
    const plan = planFire(current, at, { ...OPTIONS, misfireGraceMs: graceMs });
    const update = rowUpdate(plan, plan.kind === "publish" ? { status: "confirmed" } : undefined, 0)!;
    missed += plan.missed;
    if (plan.kind === "publish") {
      const body = JSON.parse(plan.message.body.toString());
      sent.push({
        id: plan.message.messageId,
        scheduledFor: body.scheduled_for,
        missed: body.missed_runs,
        atMs: at,
        ...(body.due_at ? { dueAt: body.due_at } : {}),
      });
    } else skipped += 1;
    current = {
      ...current,
      slotMs: update.nextMs,
      runCount: current.runCount + (update.outcome === "skipped" ? 0 : 1),
    };
    if (update.pause) {
      ended = update.error;
      expect(update.ended).toBe(true);
      break;
    }
  }
  return { sent, skipped, missed, ended, next: current.slotMs, runCount: current.runCount };
}

const slotIds = (from: number, to: number, step = MIN) => {
  const ids: string[] = [];
  for (let t = from; t <= to; t += step) ids.push(`7:${t}`);
  return ids;
};

describe("misfire_policy across outages (fake time)", () => {
  // Up from T0 + 30 s to T0 + 10 min 30 s: the slots T0+1m … T0+10m fall inside it.
  const tenMinutes = [T0 + 30_000, T0 + 10 * MIN + 30_000] as const;
  const until = T0 + 15 * MIN;

  test("once (and NULL): the slot it was due at fires once, late, counting the nine passed over", () => {
    for (const policy of [undefined, "once"]) {
      const r = simulate(row(policy ? { misfirePolicy: policy } : {}), until, tenMinutes);
      expect(r.sent.map((s) => s.id)).toEqual([`7:${T0}`, `7:${T0 + MIN}`, ...slotIds(T0 + 11 * MIN, until)]);
      expect(r.sent[1]).toMatchObject({ missed: 9, atMs: T0 + 10 * MIN + 30_000 });
      expect([r.skipped, r.missed]).toEqual([0, 9]);
    }
  });

  test("skip: nothing fires late; the ten slots are counted (one skipped, nine missed)", () => {
    const r = simulate(row({ misfirePolicy: "skip" }), until, tenMinutes);
    expect(r.sent.map((s) => s.id)).toEqual([`7:${T0}`, ...slotIds(T0 + 11 * MIN, until)]);
    expect([r.skipped, r.missed]).toEqual([1, 9]);
  });

  test("all: each of the ten slots fires, oldest first, with its own id and missed_runs 0", () => {
    const r = simulate(row({ misfirePolicy: "all" }), until, tenMinutes);
    expect(r.sent.map((s) => s.id)).toEqual(slotIds(T0, until));
    expect(r.sent.every((s) => s.missed === 0)).toBe(true);
    expect(r.sent.filter((s) => s.atMs === tenMinutes[1]).map((s) => s.id)).toEqual(slotIds(T0 + MIN, T0 + 10 * MIN));
    expect([r.skipped, r.missed]).toEqual([0, 0]);
  });

  test("an outage shorter than the interval: every policy fires the late slot once; a grace of 10 s skips it for once and skip", () => {
    const short = [T0 + 50_000, T0 + 80_000] as const; // slot T0+1m fires 20 s late
    for (const policy of ["once", "skip", "all"]) {
      const r = simulate(row({ misfirePolicy: policy }), T0 + 3 * MIN, short);
      expect(r.sent.map((s) => s.id)).toEqual(slotIds(T0, T0 + 3 * MIN));
      const graced = simulate(row({ misfirePolicy: policy, misfireGraceSeconds: 10 }), T0 + 3 * MIN, short);
      const expected =
        policy === "all" ? slotIds(T0, T0 + 3 * MIN) : [`7:${T0}`, `7:${T0 + 2 * MIN}`, `7:${T0 + 3 * MIN}`];
      expect(graced.sent.map((s) => s.id)).toEqual(expected);
    }
  });

  test("the row's misfire_grace_seconds wins over SCHEDULER_MISFIRE_GRACE, and the reason names it", () => {
    const short = [T0 + 50_000, T0 + 80_000] as const;
    const global = simulate(row(), T0 + 2 * MIN, short, 10_000);
    expect(global.skipped).toBe(1);
    const own = simulate(row({ misfireGraceSeconds: 60 }), T0 + 2 * MIN, short, 10_000);
    expect(own.skipped).toBe(0);
    const plan = planFire(row({ misfireGraceSeconds: 5 }), T0 + 20_000, OPTIONS);
    expect(plan.kind === "skip" && plan.reason).toBe(
      "skipped by rune-scheduler: slot 2026-01-05T09:00:00.000Z was 20.000s late, more than misfire_grace_seconds=5s",
    );
  });

  test("all, after three days down: the latest 1000 slots fire one by one, the older ones are counted", () => {
    const days = [T0 + 30_000, T0 + 3 * 1440 * MIN + 30_000] as const;
    const until3 = T0 + 3 * 1440 * MIN + 30_000;
    const r = simulate(row({ misfirePolicy: "all" }), until3, days);
    const late = r.sent.filter((s) => s.atMs === days[1]);
    expect(late.length).toBe(CATCH_UP_LIMIT);
    expect(late.at(-1)!.id).toBe(`7:${T0 + 3 * 1440 * MIN}`);
    expect(late[0]!.id).toBe(`7:${T0 + (3 * 1440 - CATCH_UP_LIMIT + 1) * MIN}`);
    // 4320 slots passed: 1000 fired, 3320 counted (one skip, 3319 missed).
    expect([r.skipped, r.missed]).toEqual([1, 3 * 1440 - CATCH_UP_LIMIT - 1]);
  });

  test("all on a cron row fires each passed time of the expression", () => {
    const cron = row({ cronExpression: "*/5 * * * *", timezone: "Europe/Berlin", misfirePolicy: "all" });
    const r = simulate(cron, T0 + 30 * MIN, [T0 + MIN, T0 + 21 * MIN]);
    expect(r.sent.map((s) => s.id)).toEqual(slotIds(T0, T0 + 30 * MIN, 5 * MIN));
  });
});

describe("ends: ends_at, max_runs, one-shots", () => {
  test("ends_at: slots up to it fire; the fire whose next slot passes it ends the row", () => {
    const r = simulate(row({ endsAtMs: T0 + 3 * MIN }), T0 + 10 * MIN, null);
    expect(r.sent.map((s) => s.id)).toEqual(slotIds(T0, T0 + 3 * MIN));
    expect(r.ended).toBe("ended: the next slot 2026-01-05T09:04:00.000Z is after ends_at 2026-01-05T09:03:00.000Z");
  });

  test("max_runs: the fire that brings run_count to it ends the row; skipped slots do not count", () => {
    const r = simulate(row({ maxRuns: 3, runCount: 0 }), T0 + 10 * MIN, null);
    expect(r.sent.map((s) => s.id)).toEqual(slotIds(T0, T0 + 2 * MIN));
    expect([r.ended, r.runCount]).toEqual(["ended: max_runs 3 reached", 3]);
    const skipping = simulate(row({ maxRuns: 2, misfirePolicy: "skip" }), T0 + 20 * MIN, [
      T0 + 30_000,
      T0 + 5 * MIN + 1,
    ]);
    expect(skipping.sent.map((s) => s.id)).toEqual([`7:${T0}`, `7:${T0 + 6 * MIN}`]);
    expect(skipping.skipped).toBe(1);
  });

  test("a one-shot (max_runs 1, no interval, no cron) fires once at next_run_at and ends", () => {
    const once = row({ intervalSeconds: null as unknown as number, maxRuns: 1 });
    expect(scheduleOf(once)).toEqual({ ok: true, schedule: { kind: "once" } });
    const r = simulate(once, T0 + 10 * MIN, null);
    expect(r.sent.map((s) => [s.id, s.atMs])).toEqual([[`7:${T0}`, T0]]);
    expect(r.ended).toBe("ended: max_runs 1 reached");
  });

  test("a one-shot later than its grace ends without firing, and says so", () => {
    const once = row({ intervalSeconds: null as unknown as number, maxRuns: 1, misfireGraceSeconds: 30 });
    const r = simulate(once, T0 + 10 * MIN, [T0 - 1, T0 + 5 * MIN]);
    expect(r.sent).toEqual([]);
    expect(r.ended).toStartWith("ended: its one slot 2026-01-05T09:00:00.000Z was skipped; skipped by rune-scheduler:");
  });

  test("a failed fire that reaches max_runs ends the row and keeps the failure in last_error", () => {
    const plan = planFire(row({ maxRuns: 1, runCount: 0 }), T0, OPTIONS);
    const update = rowUpdate(plan, { status: "failed", reason: "unroutable" }, 3)!;
    expect(update).toMatchObject({ outcome: "failed", pause: true, ended: true });
    expect(update.error).toBe("ended: max_runs 1 reached; last fire failed: unroutable");
  });

  test("an unknown outcome leaves the row untouched, so it does not end", () => {
    const plan = planFire(row({ maxRuns: 1 }), T0, OPTIONS);
    expect(rowUpdate(plan, { status: "unknown", reason: "link lost" }, 0)).toBeNull();
  });
});

describe("jitter", () => {
  test("the offset depends on the schedule id and the slot only, lies in [0, jitter), and the message keeps the slot", () => {
    const first = jitterOffsetMs(7, T0, 30);
    expect(jitterOffsetMs(7, T0, 30)).toBe(first);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThan(30_000);
    expect(jitterOffsetMs(7, T0, 0)).toBe(0);
    const r = simulate(row({ jitterSeconds: 30 }), T0 + 5 * MIN, null);
    expect(r.sent.map((s) => s.id)).toEqual(slotIds(T0, T0 + 5 * MIN).slice(0, r.sent.length));
    for (const s of r.sent) {
      const slot = Date.parse(s.scheduledFor);
      expect(s.id).toBe(`7:${slot}`);
      expect(Date.parse(s.dueAt!)).toBe(slot + jitterOffsetMs(7, slot, 30));
      expect(s.atMs).toBe(Date.parse(s.dueAt!));
      expect(s.missed).toBe(0);
    }
  });

  test("spreads uniformly: 10,000 slots over ten buckets pass a chi-square test (p > 0.001)", () => {
    const buckets = new Array(10).fill(0);
    for (let k = 0; k < 10_000; k++) buckets[Math.floor(jitterOffsetMs(42, T0 + k * MIN, 60) / 6000)] += 1;
    const chi = buckets.reduce((sum, n) => sum + (n - 1000) ** 2 / 1000, 0);
    expect(chi).toBeLessThan(27.88); // 9 degrees of freedom, p = 0.001
    expect(Math.min(...buckets)).toBeGreaterThan(850);
  });

  test("a jittered row's message carries due_at even when its slot's offset happens to be 0 ms", () => {
    // About one slot in a thousand draws offset 0 under a 1 s jitter; the contract says due_at is
    // on every message of a row with jitter_seconds, so consumers need no special case.
    let slot = T0;
    while (jitterOffsetMs(7, slot, 1) !== 0) slot += 2_000;
    const plan = planFire(row({ slotMs: slot, intervalSeconds: 2, jitterSeconds: 1 }), slot, OPTIONS);
    if (plan.kind !== "publish") throw new Error(`expected a publish, got ${plan.kind}`);
    expect(JSON.parse(plan.message.body.toString()).due_at).toBe(new Date(slot).toISOString());
    const plain = planFire(row({ slotMs: slot, intervalSeconds: 2 }), slot, OPTIONS);
    if (plain.kind !== "publish") throw new Error(`expected a publish, got ${plain.kind}`);
    expect(JSON.parse(plain.message.body.toString()).due_at).toBeUndefined();
  });

  test("lateness is measured from the jittered time: a grace of 5 s does not skip a slot firing at its offset", () => {
    const offset = jitterOffsetMs(7, T0, 50);
    expect(offset).toBeGreaterThan(5_000);
    const plan = planFire(row({ jitterSeconds: 50, misfireGraceSeconds: 5 }), T0 + offset + 1_000, OPTIONS);
    expect(plan.kind).toBe("publish");
  });

  test("a jitter not shorter than the interval, or than a cron gap, is refused", () => {
    const interval = scheduleOf({ intervalSeconds: 60 });
    const cron = scheduleOf({ intervalSeconds: null, cronExpression: "0 9,10 * * *", timezone: "UTC" });
    if (!interval.ok || !cron.ok) throw new Error("schedules");
    expect(jitterProblem(interval.schedule, 59, T0)).toBeNull();
    expect(jitterProblem(interval.schedule, 60, T0)).toBe("jitter_seconds is not shorter than interval_seconds");
    expect(jitterProblem(cron.schedule, 3599, T0)).toBeNull();
    expect(jitterProblem(cron.schedule, 3600, T0)).toBe(
      "jitter_seconds 3600 is not shorter than the 3600s between two times of the cron expression",
    );
    expect(() => planFire(row({ jitterSeconds: 60 }), T0, OPTIONS)).toThrow(UnplannableRow);
  });

  test("an unknown misfire_policy is not planned", () => {
    expect(() => planFire(row({ misfirePolicy: "latest" }), T0, OPTIONS)).toThrow(
      'misfire_policy "latest" is not once, skip or all',
    );
  });
});

describe("shown as they are: stats, check-db, the verbs and the console", () => {
  test("describeSchedule names each policy column that is set, and nothing more without them", () => {
    expect(describeSchedule({ intervalSeconds: 60 })).toBe("every 1m");
    expect(
      describeSchedule({
        intervalSeconds: 60,
        misfirePolicy: "all",
        misfireGraceSeconds: 30,
        jitterSeconds: 10,
        endsAtMs: Date.UTC(2027, 2, 31, 23, 59, 59),
        maxRuns: 5,
      }),
    ).toBe("every 1m, misfire all, grace 30s, jitter 10s, ends 2027-03-31T23:59:59.000Z, max 5 runs");
    expect(describeSchedule({ intervalSeconds: null, maxRuns: 1 })).toBe("once");
  });

  test("the console's next slots carry their jittered times, stop at ends_at and at max_runs, and mark the last", () => {
    const every = { kind: "interval", intervalMs: MIN } as const;
    const slots = nextSlots(every, T0 + MIN, T0, 10, { scheduleId: 7, jitterSeconds: 30, endsAtMs: T0 + 4 * MIN });
    expect(slots.map((s) => [s.ms, s.dueMs, s.last ?? false])).toEqual([
      [T0 + MIN, dueAt(7, T0 + MIN, 30), false],
      [T0 + 2 * MIN, dueAt(7, T0 + 2 * MIN, 30), false],
      [T0 + 3 * MIN, dueAt(7, T0 + 3 * MIN, 30), false],
      [T0 + 4 * MIN, dueAt(7, T0 + 4 * MIN, 30), true],
    ]);
    const runs = nextSlots(every, T0 + MIN, T0, 10, { scheduleId: 7, runsLeft: 2 });
    expect(runs.map((s) => [s.ms, s.dueMs, s.last ?? false])).toEqual([
      [T0 + MIN, undefined, false],
      [T0 + 2 * MIN, undefined, true],
    ]);
    const shot = nextSlots({ kind: "once" }, T0 + MIN, T0, 10, { scheduleId: 7, runsLeft: 1 });
    expect(shot.map((s) => [s.ms, s.last])).toEqual([[T0 + MIN, true]]);
  });

  test("the console shows an ended row as ended, and judges bad values as SQL does", () => {
    const record = {
      id: 7,
      workflowId: 1,
      workflowName: "w",
      hasWorkflow: true,
      isActive: false,
      nextRunMs: T0,
      intervalSeconds: 60,
      cronExpression: null,
      timezone: null,
      runCount: 3,
      failureCount: 0,
      lastRunMs: T0,
      lastError: "ended: max_runs 3 reached",
    };
    expect(stateOf(record, T0, MIN)).toBe("ended");
    expect(stateOf({ ...record, lastError: "paused by operator" }, T0, MIN)).toBe("paused");
    const active = { ...record, isActive: true, lastError: null };
    expect(invalidReason({ ...active, maxRuns: 3 })).toBe("run_count has reached max_runs");
    expect(invalidReason({ ...active, misfirePolicy: "latest" })).toBe("misfire_policy is not once, skip or all");
    expect(invalidReason({ ...active, jitterSeconds: 60 })).toBe("jitter_seconds is not shorter than interval_seconds");
    expect(invalidReason({ ...active, endsAtMs: T0 - 1 })).toBe("ends_at is before next_run_at");
    expect(invalidReason({ ...active, maxRuns: 4, jitterSeconds: 10, misfirePolicy: "skip" })).toBeNull();
  });
});
