import { defineCommand } from "citty";
import { resumeMany } from "../operator/bulk.ts";
import { type Resumed, resumeSchedule } from "../operator/verbs.ts";
import { bulkArgs, confirmTargets, selectorArg } from "./bulk.ts";
import { connectArgs, dbArgs, jsonArg, logArgs } from "./shared.ts";
import { runVerb } from "./verb.ts";

const line = (done: Resumed) =>
  done.wasActive
    ? `ok schedule ${done.id} (${done.schedule}) is already active; nothing changed`
    : `ok resumed schedule ${done.id} (${done.schedule}): next run ${done.nextRunAt}`;

export default defineCommand({
  meta: { name: "resume", description: "Reactivate schedules at their next slot after now" },
  args: { ...bulkArgs, ...jsonArg, ...dbArgs, ...connectArgs, ...logArgs },
  async run({ args }) {
    const selector = selectorArg("resume", args);
    if (selector === null) return;
    process.exitCode = await runVerb(args, "resume", false, async ({ sql, who }) => {
      if ("one" in selector) {
        const done = await resumeSchedule(sql, selector.one, who);
        return { text: line(done), json: { ...done } };
      }
      const targets = await confirmTargets(sql, "resume", selector, args.yes === true, args.json === true);
      const done = await resumeMany(
        sql,
        targets.map((t) => t.id),
        who,
      );
      return { text: done.map(line).join("\n"), json: { targets, resumed: done } };
    });
  },
});
