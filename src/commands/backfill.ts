import { defineCommand } from "citty";
import { backfillMessages, MAX_BACKFILL_SLOTS, planBackfill, publishBackfill } from "../operator/backfill.ts";
import { OperatorError } from "../operator/verbs.ts";
import { messageIdFor } from "../schedule/message.ts";
import { connectArgs, dbArgs, flagOf, jsonArg, logArgs, mqArgs } from "./shared.ts";
import { badArgument, idArg, runVerb, scheduleIdArg } from "./verb.ts";

/** An instant with its zone (a bare date is midnight UTC): a time without one would be read in the host's zone. */
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

export function parseInstant(value: unknown): number | null | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string" || !INSTANT.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

const iso = (ms: number) => new Date(ms).toISOString();

export default defineCommand({
  meta: {
    name: "backfill",
    description: `Publish the slots of a schedule in a past window, each with its own id (lists them without --yes; at most ${MAX_BACKFILL_SLOTS})`,
  },
  args: {
    ...idArg,
    from: {
      type: "string",
      description: "start of the window, inclusive (ISO 8601 with a zone, e.g. 2026-11-25T00:00:00Z)",
      valueHint: "time",
    },
    to: { type: "string", description: "end of the window, exclusive, not after now", valueHint: "time" },
    yes: { type: "boolean", description: "publish (without it: list what would be published)", default: false },
    ...jsonArg,
    ...dbArgs,
    ...mqArgs,
    ...flagOf("SCHEDULER_MAX_MESSAGE_BYTES"),
    ...connectArgs,
    ...logArgs,
  },
  async run({ args }) {
    const id = scheduleIdArg("backfill", args.id);
    const fromMs = parseInstant(args.from);
    const toMs = parseInstant(args.to);
    const expected = "expected an ISO 8601 time with a zone, e.g. 2026-11-25T00:00:00Z";
    if (id === null) return;
    if (fromMs === undefined || toMs === undefined)
      process.exitCode = badArgument("backfill", "--from and --to are required: the window [from, to) to fill");
    else if (fromMs === null)
      process.exitCode = badArgument("backfill", `--from ${JSON.stringify(args.from)} is invalid: ${expected}`);
    else if (toMs === null)
      process.exitCode = badArgument("backfill", `--to ${JSON.stringify(args.to)} is invalid: ${expected}`);
    else if (toMs! <= fromMs)
      process.exitCode = badArgument("backfill", `--to ${args.to} must be later than --from ${args.from}`);
    if (fromMs === null || toMs === null || fromMs === undefined || toMs === undefined || toMs <= fromMs) return;
    const publish = args.yes === true;
    process.exitCode = await runVerb(args, "backfill", publish, async ({ sql, publisher, messages }) => {
      const plan = await planBackfill(sql, id, fromMs, toMs);
      const slots = plan.slots.map((slot) => ({ slot: iso(slot), messageId: messageIdFor(id, slot) }));
      const cut = plan.createdMs !== null && plan.createdMs > fromMs;
      const created = cut ? ` (slots before the row was created, ${iso(plan.createdMs!)}, are left out)` : "";
      const head = `schedule ${id} (${plan.schedule}), ${iso(fromMs)} to ${iso(toMs)}: ${slots.length} slot(s)${created}`;
      const listing = slots.map((s) => `  ${s.slot}  ${s.messageId}`);
      const json = {
        id,
        schedule: plan.schedule,
        from: iso(fromMs),
        to: iso(toMs),
        ...(plan.createdMs !== null ? { createdAt: iso(plan.createdMs) } : {}),
        slots,
        published: false,
        confirmed: 0,
      };
      if (!publish || slots.length === 0) {
        const tail =
          slots.length === 0
            ? "nothing to publish"
            : `not published: pass --yes to publish these ${slots.length} message(s)`;
        return { text: [`ok ${head}`, ...listing, tail].join("\n"), json };
      }
      const refused = await publishBackfill(publisher!, backfillMessages(plan, plan.row.dbNowMs, messages));
      if (refused.length > 0) {
        const first = refused[0]!;
        throw new OperatorError(
          "broker refused",
          `${refused.length} of ${slots.length} backfill message(s) of schedule ${id} were not confirmed (first: ${first.messageId}: ${first.reason}); publish again to retry: consumers drop the ones they already have by message id`,
        );
      }
      return {
        text: [`ok published ${head}, each confirmed by the broker (trigger_source backfill)`, ...listing].join("\n"),
        json: { ...json, published: true, confirmed: slots.length },
      };
    });
  },
});
