/** Bundles src/console/web into the strings the console serves (scripts/build.ts bakes them into the binary). */
import { resolve } from "node:path";
import type { ConsoleAssets } from "./assets.ts";

const WEB = resolve(import.meta.dir, "web");

export async function buildConsoleAssets(): Promise<ConsoleAssets> {
  const result = await Bun.build({
    entrypoints: [resolve(WEB, "main.ts")],
    target: "browser",
    format: "esm",
    minify: true,
    sourcemap: "none",
  });
  if (!result.success) throw new AggregateError(result.logs, "the console's web bundle failed to build");
  const js = await result.outputs[0]!.text();
  const css = await Bun.file(resolve(WEB, "console.css")).text();
  const icon = await Bun.file(resolve(WEB, "icon.svg")).text();
  return { js, css, icon };
}
