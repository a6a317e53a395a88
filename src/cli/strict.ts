/**
 * Strict checking of a command's arguments before citty parses them: citty (like node's
 * parseArgs with strict: false) accepts any flag silently, so `check-db --bogus-flag` ran with
 * the flag ignored. Pure: tokens and definitions in, a verdict out.
 */
import type { ArgDef, ArgsDef } from "citty";

type Verdict = { kind: "run" } | { kind: "help" } | { kind: "version" } | { kind: "error"; message: string };

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The nearest candidate, when it is near enough to be what was meant (or contains it). */
export function nearest(typed: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(typed, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  if (best === null) return null;
  if (bestDistance <= Math.max(2, Math.floor(typed.length / 3))) return best;
  const partial = candidates.filter(
    (candidate) => candidate.includes(typed) || (typed.length >= 4 && typed.includes(candidate)),
  );
  return partial.length === 1 ? partial[0]! : null;
}

/** citty treats a definition without a type as a string. */
const isValueFlag = (def: ArgDef | undefined) =>
  def !== undefined && def.type !== "boolean" && def.type !== "positional";

/**
 * Checks `tokens` (what follows the command name) against `args`. Flags are `--name value`,
 * `--name=value` or, for booleans, `--name` / `--no-name`; `-h`/`--help` and `--version` are
 * understood everywhere; everything after `--` is positional.
 */
export function checkTokens(
  command: string,
  tokens: readonly string[],
  args: ArgsDef,
  /** The other commands that take a flag, to say where an unknown one belongs. */
  elsewhere: (flag: string) => readonly string[] = () => [],
): Verdict {
  const positionals = Object.entries(args).filter(([, def]) => def.type === "positional");
  const flagNames = Object.entries(args)
    .filter(([, def]) => def.type !== "positional")
    .map(([name]) => name);
  let seenPositionals = 0;
  let help = false;
  let version = false;
  // A last positional whose hint ends in "..." takes any number of values (`pause ID...`).
  const variadic = positionals.at(-1)?.[1].valueHint?.endsWith("...") === true;
  const positional = (token: string): string | null => {
    seenPositionals++;
    if (seenPositionals <= positionals.length || variadic) return null;
    return positionals.length === 0
      ? `${command} takes no arguments, got "${token}"`
      : `${command} takes ${positionals.length} argument${positionals.length > 1 ? "s" : ""} (${positionals.map(([name]) => name.toUpperCase()).join(" ")}), got "${token}" too`;
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === "--") {
      for (const rest of tokens.slice(i + 1)) {
        const problem = positional(rest);
        if (problem) return { kind: "error", message: problem };
      }
      break;
    }
    if (token === "-h" || token === "--help") {
      help = true;
      continue;
    }
    if (token === "--version") {
      version = true;
      continue;
    }
    if (!token.startsWith("-") || token === "-" || /^-\d/.test(token)) {
      const problem = positional(token);
      if (problem) return { kind: "error", message: problem };
      continue;
    }
    if (!token.startsWith("--")) return { kind: "error", message: unknownOption(command, token, flagNames, []) };
    const [rawName, inlineValue] = splitOnce(token.slice(2));
    const negated =
      rawName.startsWith("no-") && args[rawName.slice(3)]?.type === "boolean" && inlineValue === undefined;
    const name = negated ? rawName.slice(3) : rawName;
    const def = args[name];
    if (def === undefined || def.type === "positional") {
      return { kind: "error", message: unknownOption(command, `--${rawName}`, flagNames, elsewhere(rawName)) };
    }
    if (isValueFlag(def)) {
      if (inlineValue !== undefined) continue;
      const next = tokens[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2)) {
        return {
          kind: "error",
          message: `--${name} needs a value (--${name} <${def.valueHint ?? "value"}> or --${name}=<${def.valueHint ?? "value"}>)`,
        };
      }
      i++;
    } else if (inlineValue !== undefined && inlineValue !== "true" && inlineValue !== "false") {
      return { kind: "error", message: `--${name} takes no value (got "${inlineValue}")` };
    }
  }
  if (help) return { kind: "help" };
  if (version) return { kind: "version" };
  const missing = positionals
    .slice(seenPositionals)
    .find(([, def]) => def.required !== false && def.default === undefined);
  if (missing) return { kind: "error", message: `${command} needs ${missing[0].toUpperCase()}` };
  return { kind: "run" };
}

function splitOnce(text: string): [string, string | undefined] {
  const at = text.indexOf("=");
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function unknownOption(
  command: string,
  typed: string,
  flagNames: readonly string[],
  others: readonly string[],
): string {
  if (others.length > 0) return `unknown option ${typed} for ${command}: it is an option of ${others.join(", ")}`;
  const guess = nearest(typed.replace(/^-+/, ""), [...flagNames, "help", "version"]);
  return `unknown option ${typed} for ${command}${guess ? `; did you mean --${guess}?` : ""}`;
}
