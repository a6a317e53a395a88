import { defineCommand } from "citty";
import { pauseSchedule } from "../operator/verbs.ts";
import { connectArgs, dbArgs, jsonArg, logArgs } from "./shared.ts";
import { idArg, runVerb, scheduleIdArg } from "./verb.ts";

export default defineCommand({
  meta: { name: "pause", description: "Deactivate a schedule, keeping the reason in last_error" },
  args: {
    ...idArg,
    reason: { type: "string", description: "why, kept in last_error (shown by stats)", valueHint: "text" },
    ...jsonArg,
    ...dbArgs,
    ...connectArgs,
    ...logArgs,
  },
  async run({ args }) {
    const id = scheduleIdArg("pause", args.id);
    if (id === null) return;
    const reason = typeof args.reason === "string" && args.reason.trim() !== "" ? args.reason.trim() : null;
    process.exitCode = await runVerb(args, "pause", false, async ({ sql, who }) => {
      const done = await pauseSchedule(sql, id, reason, who);
      const was = done.wasActive ? "" : " (it was already inactive)";
      return { text: `ok paused schedule ${id}${was}: last_error "${done.lastError}"`, json: { ...done } };
    });
  },
});
