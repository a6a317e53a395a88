/**
 * The CLI's front door, in place of citty's runMain (which accepts unknown flags, prints the whole
 * help for a typo, colours piped output and exits 1 for a bare call): picks the command, checks
 * its arguments strictly, answers --help and --version, then hands the arguments to citty.
 * Usage errors exit 2, like a bad configuration value.
 */
import { type CommandDef, runCommand } from "citty";
import { type DotenvLocation, dotenvLocation } from "../config/origin.ts";
import { EXIT } from "./exit.ts";
import { argsOf, renderHelp, styleFor, subCommandsOf } from "./help.ts";
import { checkTokens, nearest } from "./strict.ts";

interface CliIo {
  out(text: string): void;
  err(text: string): void;
  stdoutIsTTY: boolean;
  env: Record<string, string | undefined>;
  /** Where ./.env is read from, for --help. */
  dotenv?: DotenvLocation;
}

const processIo = (): CliIo => ({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  stdoutIsTTY: process.stdout.isTTY === true,
  env: process.env,
  dotenv: dotenvLocation(),
});

interface CliOptions {
  /** A command whose usage errors must not exit 2 (healthcheck: Docker reserves 2). */
  usageExitCodes?: Record<string, number>;
  io?: CliIo;
}

/** Runs `argv` (without the program name) and resolves with the exit code. */
export async function runCli(
  program: string,
  version: string,
  root: CommandDef,
  argv: readonly string[],
  options: CliOptions = {},
): Promise<number> {
  const io = options.io ?? processIo();
  const style = styleFor({ isTTY: io.stdoutIsTTY }, io.env);
  const usageError = (message: string, helpHint: string, command?: string) => {
    io.err(`${program}: ${message}\nRun \`${helpHint} --help\` for usage.\n`);
    return (command !== undefined ? options.usageExitCodes?.[command] : undefined) ?? EXIT.badConfig;
  };
  const commands = await subCommandsOf(root);
  const at = argv.findIndex((token) => !token.startsWith("-"));
  const leading = at < 0 ? argv : argv.slice(0, at);
  for (const token of leading) {
    if (!["-h", "--help", "-v", "--version"].includes(token)) return usageError(`unknown option ${token}`, program);
  }
  if (at < 0) {
    // A bare call is a request for help, not a failure.
    if (
      leading.some((token) => token === "-v" || token === "--version") &&
      !leading.some((t) => t === "-h" || t === "--help")
    ) {
      io.out(`${version}\n`);
    } else {
      io.out(await renderHelp(program, null, root, style, io.dotenv));
    }
    return EXIT.ok;
  }
  const name = argv[at]!;
  const command = commands[name];
  if (!command) {
    const guess = nearest(name, Object.keys(commands));
    return usageError(`unknown command "${name}"${guess ? `; did you mean ${guess}?` : ""}`, program);
  }
  if (leading.length > 0) {
    io.out(
      leading.some((t) => t === "-h" || t === "--help")
        ? await renderHelp(program, name, command, style, io.dotenv)
        : `${version}\n`,
    );
    return EXIT.ok;
  }
  const rest = argv.slice(at + 1);
  const optionsOf = Object.fromEntries(
    await Promise.all(Object.entries(commands).map(async ([n, c]) => [n, await argsOf(c)] as const)),
  );
  const elsewhere = (flag: string) =>
    Object.keys(commands).filter((other) => {
      const def = optionsOf[other]?.[flag];
      return other !== name && def !== undefined && def.type !== "positional";
    });
  const verdict = checkTokens(name, rest, await argsOf(command), elsewhere);
  switch (verdict.kind) {
    case "help":
      io.out(await renderHelp(program, name, command, style, io.dotenv));
      return EXIT.ok;
    case "version":
      io.out(`${version}\n`);
      return EXIT.ok;
    case "error":
      return usageError(verdict.message, `${program} ${name}`, name);
  }
  process.exitCode = undefined;
  await runCommand(command, { rawArgs: [...rest] });
  return Number(process.exitCode ?? EXIT.ok);
}
