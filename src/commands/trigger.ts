import { defineCommand } from "citty";
import { triggerSchedule } from "../operator/verbs.ts";
import { idArg, publishingVerbArgs, runVerb, scheduleIdArg } from "./verb.ts";

export default defineCommand({
  meta: {
    name: "trigger",
    description: "Publish one message for a schedule now and record it as a fire (next_run_at stays)",
  },
  args: { ...idArg, ...publishingVerbArgs },
  async run({ args }) {
    const id = scheduleIdArg("trigger", args.id);
    if (id === null) return;
    process.exitCode = await runVerb(args, "trigger", true, async ({ sql, publisher, messages, who }) => {
      const done = await triggerSchedule(sql, publisher!, id, messages, who);
      return {
        text: `ok triggered schedule ${id} (${done.schedule}): message ${done.messageId} confirmed by the broker, run ${done.runNumber} recorded; next_run_at unchanged`,
        json: { ...done },
      };
    });
  },
});
