/**
 * `rune-scheduler completion bash|zsh`: a completion script written from the command tree
 * itself, so a new command or flag is completed without touching this file.
 */
import { type CommandDef, defineCommand } from "citty";
import { argsOf, metaOf, subCommandsOf } from "./help.ts";
import { FLAG_CHOICES } from "./options.ts";

const SHELLS = ["bash", "zsh"] as const;

interface CommandInfo {
  name: string;
  description: string;
  flags: { name: string; description: string; takesValue: boolean }[];
  positionalChoices: readonly string[];
}

async function describeTree(root: CommandDef): Promise<CommandInfo[]> {
  const infos: CommandInfo[] = [];
  for (const [name, command] of Object.entries(await subCommandsOf(root))) {
    const meta = await metaOf(command);
    if (meta.hidden) continue;
    const args = await argsOf(command);
    infos.push({
      name,
      description: meta.description ?? "",
      flags: [
        ...Object.entries(args)
          .filter(([, def]) => def.type !== "positional")
          .map(([flag, def]) => ({
            name: flag,
            description: def.description ?? "",
            takesValue: def.type !== "boolean",
          })),
        { name: "help", description: "show this help", takesValue: false },
      ],
      positionalChoices: name === "completion" ? SHELLS : [],
    });
  }
  return infos;
}

const bashWords = (words: readonly string[]) => words.join(" ");

function bashScript(program: string, commands: readonly CommandInfo[]): string {
  const fn = `_${program.replaceAll("-", "_")}`;
  const valueFlags = [
    ...new Set(commands.flatMap((c) => c.flags.filter((f) => f.takesValue).map((f) => `--${f.name}`))),
  ];
  const cases = commands
    .map(
      (c) => `    ${c.name}) words="${bashWords([...c.positionalChoices, ...c.flags.map((f) => `--${f.name}`)])}" ;;`,
    )
    .join("\n");
  const choices = Object.entries(FLAG_CHOICES)
    .map(([flag, values]) => `    --${flag}) COMPREPLY=($(compgen -W "${bashWords(values!)}" -- "$cur")); return ;;`)
    .join("\n");
  return `# bash completion for ${program}
# Load it now:  source <(${program} completion bash)
# For good:     ${program} completion bash > ~/.local/share/bash-completion/completions/${program}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="" i words
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      -*) ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  case "$prev" in
${choices}
${valueFlags.length > 0 ? `    ${valueFlags.join("|")}) COMPREPLY=(); return ;;\n` : ""}  esac
  case "$cmd" in
    "") words="${bashWords([...commands.map((c) => c.name), "--help", "--version"])}" ;;
${cases}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F ${fn} ${program}
`;
}

/** Inside single quotes, for an _arguments spec: no quote, and no brackets or colons in the text. */
const zshText = (text: string) =>
  text.replaceAll("'", "").replaceAll("[", "(").replaceAll("]", ")").replaceAll(":", " -");

function zshScript(program: string, commands: readonly CommandInfo[]): string {
  const fn = `_${program.replaceAll("-", "_")}`;
  const list = commands.map((c) => `    '${c.name}:${zshText(c.description)}'`).join("\n");
  const cases = commands
    .map((c) => {
      const specs = c.flags.map((f) => {
        const values = FLAG_CHOICES[f.name];
        const value = f.takesValue ? (values ? `:${f.name}:(${values.join(" ")})` : `:${f.name}: `) : "";
        return `'--${f.name}[${zshText(f.description)}]${value}'`;
      });
      if (c.positionalChoices.length > 0) specs.push(`'1:shell:(${c.positionalChoices.join(" ")})'`);
      return `        ${c.name}) _arguments ${specs.join(" ")} ;;`;
    })
    .join("\n");
  return `#compdef ${program}
# zsh completion for ${program}
# Load it now:  source <(${program} completion zsh)
# For good:     ${program} completion zsh > "\${fpath[1]}/_${program}"
${fn}() {
  local -a commands
  commands=(
${list}
  )
  local state line
  _arguments -C '(- *)'{-h,--help}'[show help]' '(- *)'{-v,--version}'[print the version]' '1: :->command' '*:: :->args'
  case $state in
    command) _describe -t commands '${program} command' commands ;;
    args)
      case $line[1] in
${cases}
      esac
      ;;
  esac
}
if [ "$funcstack[1]" = "${fn}" ]; then
  ${fn} "$@"
else
  compdef ${fn} ${program}
fi
`;
}

/** The `completion` command; `root` is the program it completes. */
export function completionCommand(program: string, root: () => CommandDef) {
  return defineCommand({
    meta: { name: "completion", description: "Print a shell completion script (bash or zsh)" },
    args: { shell: { type: "positional", description: "bash or zsh", valueHint: "bash|zsh" } },
    async run({ args }) {
      const shell = String(args.shell);
      if (!(SHELLS as readonly string[]).includes(shell)) {
        process.stderr.write(`${program} completion: unknown shell "${shell}"; expected bash or zsh\n`);
        process.exitCode = 2;
        return;
      }
      const commands = await describeTree(root());
      process.stdout.write(shell === "bash" ? bashScript(program, commands) : zshScript(program, commands));
    },
  });
}
