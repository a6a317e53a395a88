/** Fixtures the pure schedule tests share: a claimed row, and a cron expression's next fires. */
import { compileCron } from "../../src/schedule/cron.ts";
import type { ClaimedRow } from "../../src/schedule/message.ts";

/** The slot every {@link claimedRow} is due at: 2026-11-26 13:45 UTC. */
export const SLOT = Date.UTC(2026, 10, 26, 13, 45);

/** A claimed interval row (60 s) of workflow 7, with a body that needs escaping; `over` replaces fields. */
export const claimedRow = (over: Partial<ClaimedRow> = {}): ClaimedRow => ({
  id: 42,
  workflowId: 7,
  slotMs: SLOT,
  intervalSeconds: 60,
  runCount: 17,
  failureCount: 0,
  workflowName: "nightly-report",
  workflowData: '{"a": [1, 2], "s": "é\\u0000"}',
  ...over,
});

/** The next `count` fires of `expression` in `zone` after `fromIso`, as ISO instants without milliseconds. */
export function fires(expression: string, zone: string, fromIso: string, count: number): string[] {
  const compiled = compileCron(expression, zone);
  if (!compiled.ok) throw new Error(compiled.reason);
  const out: string[] = [];
  let t = Date.parse(fromIso);
  for (let i = 0; i < count; i++) {
    t = compiled.schedule.nextAfter(t)!;
    out.push(new Date(t).toISOString().replace(".000Z", "Z"));
  }
  return out;
}
