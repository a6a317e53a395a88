import { defineCommand } from "citty";
import { triggerMany } from "../operator/bulk.ts";
import { OperatorError, type Triggered, triggerSchedule } from "../operator/verbs.ts";
import { bulkArgs, confirmTargets, selectorArg } from "./bulk.ts";
import { publishingVerbArgs, runVerb } from "./verb.ts";

const line = (done: Triggered) =>
  `ok triggered schedule ${done.id} (${done.schedule}): message ${done.messageId} confirmed by the broker, run ${done.runNumber} recorded; next_run_at unchanged`;

export default defineCommand({
  meta: {
    name: "trigger",
    description: "Publish one message for schedules now and record each as a fire (next_run_at stays)",
  },
  args: { ...bulkArgs, ...publishingVerbArgs },
  async run({ args }) {
    const selector = selectorArg("trigger", args);
    if (selector === null) return;
    process.exitCode = await runVerb(args, "trigger", true, async ({ sql, publisher, messages, who }) => {
      if ("one" in selector) {
        const done = await triggerSchedule(sql, publisher!, selector.one, messages, who);
        return { text: line(done), json: { ...done } };
      }
      const targets = await confirmTargets(sql, "trigger", selector, args.yes === true, args.json === true);
      const done = await triggerMany(
        sql,
        publisher!,
        targets.map((t) => t.id),
        messages,
        who,
      );
      if (done.refused.length > 0) {
        const refused = done.refused.map((r) => `schedule ${r.id}: ${r.reason}`).join("; ");
        const recorded = done.triggered.map(line);
        process.stdout.write(recorded.length > 0 ? `${recorded.join("\n")}\n` : "");
        throw new OperatorError(
          "broker refused",
          `${done.refused.length} trigger(s) refused, not recorded: ${refused}`,
        );
      }
      return { text: done.triggered.map(line).join("\n"), json: { targets, triggered: done.triggered } };
    });
  },
});
