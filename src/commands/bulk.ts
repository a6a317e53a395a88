/**
 * What `pause`, `resume` and `trigger` share when they act on several schedules: the selector
 * (several ids, or `--workflow NAME|ID`), the preview of what they will touch, and the
 * confirmation (`--yes`, or a question on a terminal; refused without one).
 */
import { createInterface } from "node:readline/promises";
import type { ArgsDef } from "citty";
import { EXIT } from "../cli/exit.ts";
import { OperatorError } from "../operator/verbs.ts";
import { findTargets, type Selector, type Target } from "../postgres/bulk-targets.ts";
import type { Sql } from "../postgres/client.ts";
import { badArgument, scheduleIdArg } from "./verb.ts";

export const bulkArgs = {
  id: {
    type: "positional",
    description: "the schedule(s) (scheduled_workflows.id); several ask for confirmation",
    valueHint: "ID...",
    required: false,
  },
  workflow: {
    type: "string",
    description: "every schedule of this workflow (its name, or its id); asks for confirmation",
    valueHint: "NAME|ID",
  },
  yes: { type: "boolean", description: "act on several schedules without asking (needed without a terminal)" },
} as const satisfies ArgsDef;

/** One id (today's single verb, no question), a bulk selector, or null after saying why (exit 2 set). */
export function selectorArg(verb: string, args: Record<string, unknown>): { one: number } | Selector | null {
  // citty puts every positional in `_` (and the first in `id` too).
  const typed = Array.isArray(args._) ? (args._ as unknown[]) : args.id === undefined ? [] : [args.id];
  const workflow = typeof args.workflow === "string" ? args.workflow.trim() : null;
  if (workflow !== null && typed.length > 0) {
    process.exitCode = badArgument(verb, "give schedule ids or --workflow, not both");
    return null;
  }
  if (workflow !== null) {
    if (workflow === "") {
      process.exitCode = badArgument(verb, "--workflow needs a workflow's name or id");
      return null;
    }
    return { workflow };
  }
  if (typed.length === 0) {
    // As the runner words a missing argument.
    process.stderr.write(
      `rune-scheduler: ${verb} needs ID (one or more schedule ids) or --workflow NAME|ID\nRun \`rune-scheduler ${verb} --help\` for usage.\n`,
    );
    process.exitCode = EXIT.badConfig;
    return null;
  }
  const ids: number[] = [];
  for (const value of typed) {
    const id = scheduleIdArg(verb, value);
    if (id === null) return null;
    if (!ids.includes(id)) ids.push(id);
  }
  return ids.length === 1 && args.yes !== true ? { one: ids[0]! } : { ids };
}

/** The preview: every schedule the verb will touch, one line each. */
export function previewText(verb: string, targets: readonly Target[]): string {
  const lines = [`${verb} ${targets.length} schedule(s):`];
  for (const t of targets) {
    const workflow = t.workflowName ?? `(missing workflow ${t.workflowId ?? "NULL"})`;
    lines.push(
      `  ${t.id}  ${workflow}  ${t.isActive ? "active" : "inactive"}  ${t.schedule}  next ${t.nextRunAt ?? "NULL"}`,
    );
  }
  return lines.join("\n");
}

/**
 * The schedules a selector names, shown, then confirmed: `--yes`, or "y" typed at the question
 * on a terminal. Unknown ids, no match, no terminal without `--yes`, or any other answer: an
 * OperatorError, nothing changed.
 */
export async function confirmTargets(
  sql: Sql,
  verb: string,
  selector: Selector,
  yes: boolean,
  json: boolean,
): Promise<Target[]> {
  const targets = await findTargets(sql, selector);
  if ("ids" in selector) {
    const unknown = selector.ids.filter((id) => !targets.some((t) => t.id === id));
    if (unknown.length > 0)
      throw new OperatorError("unknown id", `schedule(s) ${unknown.join(", ")} do not exist; nothing was changed`);
  }
  if (targets.length === 0)
    throw new OperatorError(
      "unknown id",
      `no schedule belongs to workflow ${JSON.stringify((selector as { workflow: string }).workflow)}; nothing was changed`,
    );
  if (yes) return targets;
  // The preview goes to stderr beside the question, so stdout keeps only the outcome (or the JSON).
  process.stderr.write(`${previewText(verb, targets)}\n`);
  if (!process.stdin.isTTY || json)
    throw new OperatorError(
      "not confirmed",
      `${verb} of ${targets.length} schedule(s) needs confirmation and stdin is not a terminal; pass --yes; nothing was changed`,
    );
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${verb} these ${targets.length} schedule(s)? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim()))
      throw new OperatorError("not confirmed", `${verb} cancelled; nothing was changed`);
  } finally {
    prompt.close();
  }
  return targets;
}
