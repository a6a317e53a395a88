/** What every subcommand shares: configuration flags, loading config, and the exit-code contract. */
import type { ArgsDef } from "citty";
import { ConfigError, FLAG_SETTINGS, flagName, loadConfig, processSources, type Config } from "../config.ts";
import { createLogger, type Logger } from "../log.ts";

export const EXIT = { ok: 0, failed: 1, badConfig: 2 } as const;

/** One `--flag` per non-secret setting; secrets are never flags, since flags show in `ps`. */
export const configArgs: ArgsDef = Object.fromEntries(
  FLAG_SETTINGS.map((setting) => [
    flagName(setting.env),
    { type: "string", description: `overrides ${setting.env}`, valueHint: "value" },
  ]),
);

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
 * Loads the config and runs `body`; a bad value prints its one line and yields exit code 2
 * before anything connects.
 */
export async function withConfig(
  args: Record<string, unknown>,
  body: (config: Config, log: Logger) => Promise<number>,
): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(processSources(flagsFrom(args)));
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

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

/** Prints a check's report (JSON, or text: stdout when ok, stderr when not) and returns its exit code. */
export function printReport<R extends { ok: boolean }>(report: R, json: boolean, format: (report: R) => string): number {
  if (json) printJson(report);
  else (report.ok ? process.stdout : process.stderr).write(format(report) + "\n");
  return report.ok ? EXIT.ok : EXIT.failed;
}
