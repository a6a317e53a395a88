import { defineCommand } from "citty";
import { resumeSchedule } from "../operator/verbs.ts";
import { connectArgs, dbArgs, jsonArg, logArgs } from "./shared.ts";
import { idArg, runVerb, scheduleIdArg } from "./verb.ts";

export default defineCommand({
  meta: { name: "resume", description: "Reactivate a schedule at its next slot after now" },
  args: { ...idArg, ...jsonArg, ...dbArgs, ...connectArgs, ...logArgs },
  async run({ args }) {
    const id = scheduleIdArg("resume", args.id);
    if (id === null) return;
    process.exitCode = await runVerb(args, "resume", false, async ({ sql, who }) => {
      const done = await resumeSchedule(sql, id, who);
      const text = done.wasActive
        ? `ok schedule ${id} (${done.schedule}) is already active; nothing changed`
        : `ok resumed schedule ${id} (${done.schedule}): next run ${done.nextRunAt}`;
      return { text, json: { ...done } };
    });
  },
});
