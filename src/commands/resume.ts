import { defineCommand } from "citty";
import { resumeSchedule } from "../operator.ts";
import { connectArgs, dbArgs, jsonArg, logArgs } from "./shared.ts";
import { badArgument, idArg, parseId, runVerb } from "./verb.ts";

export default defineCommand({
  meta: { name: "resume", description: "Reactivate a schedule at its next slot after now" },
  args: { ...idArg, ...jsonArg, ...dbArgs, ...connectArgs, ...logArgs },
  async run({ args }) {
    const id = parseId(args.id);
    if (id === null) {
      process.exitCode = badArgument(
        "resume",
        `ID ${JSON.stringify(args.id)} is invalid: expected a schedule id (a positive integer)`,
      );
      return;
    }
    process.exitCode = await runVerb(args, "resume", false, async ({ sql }) => {
      const done = await resumeSchedule(sql, id);
      const text = done.wasActive
        ? `ok schedule ${id} (${done.schedule}) is already active; nothing changed`
        : `ok resumed schedule ${id} (${done.schedule}): next run ${done.nextRunAt}`;
      return { text, json: { ...done } };
    });
  },
});
