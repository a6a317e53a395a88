/**
 * `--help`: one command's own options, each with its variable and default. citty's renderer
 * has neither, and colours by environment only (not by whether stdout is a terminal).
 */
import type { ArgDef, ArgsDef, CommandDef, CommandMeta } from "citty";
import type { DotenvLocation } from "../config/origin.ts";
import { settingOfFlag } from "./options.ts";

interface Style {
  heading(text: string): string;
  flag(text: string): string;
  dim(text: string): string;
}

const plainStyle: Style = { heading: (t) => t, flag: (t) => t, dim: (t) => t };
const ansiStyle: Style = {
  heading: (t) => `\u001B[1m${t}\u001B[22m`,
  flag: (t) => `\u001B[36m${t}\u001B[39m`,
  dim: (t) => `\u001B[90m${t}\u001B[39m`,
};

/** Colour only for a terminal, and never with NO_COLOR (any non-empty value) or TERM=dumb. */
export function styleFor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): Style {
  const off = !stream.isTTY || (env.NO_COLOR ?? "") !== "" || env.TERM === "dumb";
  return off ? plainStyle : ansiStyle;
}

export async function metaOf(command: CommandDef): Promise<CommandMeta> {
  const meta = command.meta;
  return (typeof meta === "function" ? await meta() : await meta) ?? {};
}

export async function argsOf(command: CommandDef): Promise<ArgsDef> {
  const args = command.args;
  return (typeof args === "function" ? await args() : await args) ?? {};
}

export async function subCommandsOf(command: CommandDef): Promise<Record<string, CommandDef>> {
  const subs = command.subCommands;
  const resolved = (typeof subs === "function" ? await subs() : await subs) ?? {};
  const out: Record<string, CommandDef> = {};
  for (const [name, sub] of Object.entries(resolved))
    out[name] = (typeof sub === "function" ? await (sub as () => CommandDef)() : await sub) as CommandDef;
  return out;
}

function table(rows: [string, string][], style: Style): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${style.flag(left.padEnd(width))}  ${right}`.trimEnd());
}

function optionRow(name: string, def: ArgDef, style: Style): [string, string] {
  const value = def.type !== "boolean" ? ` <${def.valueHint ?? "value"}>` : "";
  const setting = settingOfFlag(name);
  const notes: string[] = [];
  if (setting) notes.push(setting.env, `default ${setting.default ?? "unset"}`);
  else if (def.default !== undefined && def.type !== "boolean") notes.push(`default ${def.default}`);
  if (def.required) notes.push("required");
  const described = [def.description ?? "", notes.length > 0 ? style.dim(`[${notes.join(", ")}]`) : ""]
    .filter(Boolean)
    .join("  ");
  return [`--${name}${value}`, described];
}

/** Where ./.env is read from: a command run from another directory does not see the repository's. */
function dotenvLine(dotenv: DotenvLocation | undefined): string[] {
  if (!dotenv) return [];
  return [`./.env is read from the working directory only: here ${dotenv.path} (${dotenv.found ? "found" : "none"}).`];
}

/** Help for a command of `program` (or for the program itself, when `name` is null). */
export async function renderHelp(
  program: string,
  name: string | null,
  command: CommandDef,
  style: Style,
  dotenv?: DotenvLocation,
): Promise<string> {
  const meta = await metaOf(command);
  const args = await argsOf(command);
  const subs = await subCommandsOf(command);
  const full = name === null ? program : `${program} ${name}`;
  const positionals = Object.entries(args).filter(([, def]) => def.type === "positional");
  const options = Object.entries(args).filter(([, def]) => def.type !== "positional");
  const usage = [
    full,
    Object.keys(subs).length > 0 ? "<command>" : "",
    ...positionals.map(([arg, def]) => {
      // A hint ending in "..." takes several values (cli/strict.ts): `[ID...]`.
      const name = `${arg.toUpperCase()}${def.valueHint?.endsWith("...") ? "..." : ""}`;
      return def.required === false || def.default !== undefined ? `[${name}]` : `<${name}>`;
    }),
    options.length > 0 || Object.keys(subs).length > 0 ? "[OPTIONS]" : "",
  ].filter(Boolean);
  const lines = [`${full}: ${meta.description ?? ""}`, "", style.heading("USAGE"), `  ${usage.join(" ")}`, ""];
  if (Object.keys(subs).length > 0) {
    const rows: [string, string][] = [];
    for (const [sub, def] of Object.entries(subs)) {
      const subMeta = await metaOf(def);
      if (!subMeta.hidden) rows.push([sub, subMeta.description ?? ""]);
    }
    lines.push(style.heading("COMMANDS"), ...table(rows, style), "");
  }
  if (positionals.length > 0) {
    lines.push(
      style.heading("ARGUMENTS"),
      ...table(
        positionals.map(([arg, def]) => [arg.toUpperCase(), def.description ?? ""]),
        style,
      ),
      "",
    );
  }
  const rows = options.map(([option, def]) => optionRow(option, def, style));
  rows.push(["-h, --help", "show this help"]);
  rows.push([name === null ? "-v, --version" : "--version", "print the version and the commit it was built from"]);
  lines.push(style.heading("OPTIONS"), ...table(rows, style), "");
  if (name === null) {
    lines.push(
      `Run \`${program} <command> --help\` for a command's options. Each flag overrides its environment`,
      "variable; ./.env is read too. Secrets have no flag (set them in the environment or *_FILE).",
      ...dotenvLine(dotenv),
      "Exit codes: 0 ok, 1 failed, 2 bad configuration or usage (each command's help says more).",
    );
  } else if (options.some(([option]) => settingOfFlag(option))) {
    lines.push("A flag overrides its variable; the environment overrides ./.env. Secrets have no flag.");
    lines.push(...dotenvLine(dotenv));
  }
  return `${lines.join("\n").trimEnd()}\n`;
}
