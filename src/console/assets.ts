/**
 * The page's script, style sheet and icon. In the compiled binary they are strings baked in by
 * scripts/build.ts (`define`), so nothing is read from disk or the network; run from source they
 * are built on first use.
 */
declare const RUNE_CONSOLE_ASSETS: ConsoleAssets | undefined;

export interface ConsoleAssets {
  readonly js: string;
  readonly css: string;
  readonly icon: string;
}

let built: Promise<ConsoleAssets> | null = null;

export function consoleAssets(): Promise<ConsoleAssets> {
  if (typeof RUNE_CONSOLE_ASSETS !== "undefined") return Promise.resolve(RUNE_CONSOLE_ASSETS);
  built ??= import("./web-build.ts").then((module) => module.buildConsoleAssets());
  return built;
}
