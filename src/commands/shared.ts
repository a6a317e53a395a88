/** What every subcommand shares: configuration flags, loading config, and the exit-code contract. */

import { accessSync, constants, statSync } from "node:fs";
import { resolve } from "node:path";
import type { ArgsDef } from "citty";
import { EXIT } from "../cli/exit.ts";
import { allConfigArgs } from "../cli/options.ts";
import { type Config, ConfigError, loadConfig, processSources } from "../config/config.ts";
import { redact } from "../config/redact.ts";
import { FLAG_SETTINGS, flagName } from "../config/settings.ts";
import { createLogger, type Logger } from "../observe/log.ts";

export { connectArgs, dbArgs, flagOf, httpArgs, logArgs, mqArgs } from "../cli/options.ts";

/** One `--flag` per non-secret setting; secrets are never flags, since flags show in `ps`. */
export const configArgs: ArgsDef = allConfigArgs;

export const jsonArg = {
  json: { type: "boolean", description: "print one JSON document", default: false },
} as const satisfies ArgsDef;

export function flagsFrom(args: Record<string, unknown>): Record<string, string | undefined> {
  const flags: Record<string, string | undefined> = {};
  for (const setting of FLAG_SETTINGS) {
    const value = args[flagName(setting.env)];
    if (typeof value === "string") flags[setting.env] = value;
  }
  return flags;
}

/**
 * A ConfigError's line, naming what the user typed: the flag when the bad value came from one
 * (`--poll-interval="abc" is invalid: …`), else the variable.
 */
function configErrorLine(error: ConfigError, flags: Record<string, string | undefined>): string {
  if (flags[error.variable] === undefined || !error.message.startsWith(`${error.variable}=`)) return error.message;
  return `--${flagName(error.variable)}${error.message.slice(error.variable.length)}`;
}

/** Reads the configuration for `args`' flags; a ConfigError's message already names the flag. */
export function loadConfigFor(args: Record<string, unknown>): Config {
  const flags = flagsFrom(args);
  try {
    requireReadableDotenv();
    return loadConfig(processSources(flags));
  } catch (error) {
    if (error instanceof ConfigError) error.message = configErrorLine(error, flags);
    throw error;
  }
}

/**
 * A `.env` that exists but cannot be read is a mistake to report (config.ts reads a missing and
 * an unreadable one alike as "none"), or its settings would be dropped without a word.
 */
function requireReadableDotenv(): void {
  let problem: string | null = null;
  try {
    if (statSync(".env").isDirectory()) problem = "EISDIR";
    else accessSync(".env", constants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (code !== "ENOENT") problem = code;
  }
  if (problem) throw new ConfigError(".env", JSON.stringify(resolve(".env")), `a readable file (${problem}), or none`);
}

/**
 * Loads the config and runs `body`; a bad value prints its one line and yields exit code 2
 * before anything connects.
 */
export async function withConfig(
  args: Record<string, unknown>,
  body: (config: Config, log: Logger) => Promise<number>,
): Promise<number> {
  let config: Config;
  try {
    config = loadConfigFor(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`rune-scheduler: configuration error: ${error.message}\n`);
      return EXIT.badConfig;
    }
    throw error;
  }
  const log = createLogger({ level: config.logLevel, format: config.logFormat, secrets: config.secrets });
  return body(config, log);
}

/** `secrets`: the config's, scrubbed from the text as the logger scrubs its lines. */
export function printJson(value: unknown, secrets: readonly string[] = []): void {
  process.stdout.write(`${redact(JSON.stringify(value, null, 2), secrets)}\n`);
}

/**
 * Prints a check's report (JSON, or text: stdout when ok, stderr when not) and returns its exit
 * code. A report quotes servers' errors and host names: the config's secrets are scrubbed from it.
 */
export function printReport<R extends { ok: boolean }>(
  report: R,
  json: boolean,
  format: (report: R) => string,
  secrets: readonly string[] = [],
): number {
  if (json) printJson(report, secrets);
  else (report.ok ? process.stdout : process.stderr).write(`${redact(format(report), secrets)}\n`);
  return report.ok ? EXIT.ok : EXIT.failed;
}
