import { defineCommand } from "citty";
import { pauseMany } from "../operator/bulk.ts";
import { pauseSchedule } from "../operator/verbs.ts";
import { bulkArgs, confirmTargets, selectorArg } from "./bulk.ts";
import { connectArgs, dbArgs, jsonArg, logArgs } from "./shared.ts";
import { runVerb } from "./verb.ts";

export default defineCommand({
  meta: { name: "pause", description: "Deactivate schedules, keeping the reason in last_error" },
  args: {
    ...bulkArgs,
    reason: { type: "string", description: "why, kept in last_error (shown by stats)", valueHint: "text" },
    ...jsonArg,
    ...dbArgs,
    ...connectArgs,
    ...logArgs,
  },
  async run({ args }) {
    const selector = selectorArg("pause", args);
    if (selector === null) return;
    const reason = typeof args.reason === "string" && args.reason.trim() !== "" ? args.reason.trim() : null;
    process.exitCode = await runVerb(args, "pause", false, async ({ sql, who }) => {
      if ("one" in selector) {
        const id = selector.one;
        const done = await pauseSchedule(sql, id, reason, who);
        const was = done.wasActive ? "" : " (it was already inactive)";
        return { text: `ok paused schedule ${id}${was}: last_error "${done.lastError}"`, json: { ...done } };
      }
      const targets = await confirmTargets(sql, "pause", selector, args.yes === true, args.json === true);
      const done = await pauseMany(
        sql,
        targets.map((t) => t.id),
        reason,
        who,
      );
      // One line per row: what was done to it (the audit of the command).
      const lines = done.map(
        (d) =>
          `ok paused schedule ${d.id}${d.wasActive ? "" : " (it was already inactive)"}: last_error "${d.lastError}"`,
      );
      return { text: lines.join("\n"), json: { targets, paused: done } };
    });
  },
});
