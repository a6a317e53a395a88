import { defineCommand } from "citty";
import {
  backfillMessages,
  MAX_BACKFILL_SLOTS,
  parseInstant,
  planBackfill,
  publishBackfill,
} from "../operator/backfill.ts";
import { settleBackfill } from "../operator/backfill-audit.ts";
import { messageIdFor } from "../schedule/message.ts";
import { badArgument, idArg, publishingVerbArgs, runVerb, scheduleIdArg } from "./verb.ts";

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
    ...publishingVerbArgs,
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
    process.exitCode = await runVerb(args, "backfill", publish, async ({ sql, publisher, messages, who }) => {
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
      await settleBackfill(sql, who, { id, fromMs, toMs, slots: slots.length }, refused);
      return {
        text: [`ok published ${head}, each confirmed by the broker (trigger_source backfill)`, ...listing].join("\n"),
        json: { ...json, published: true, confirmed: slots.length },
      };
    });
  },
});
