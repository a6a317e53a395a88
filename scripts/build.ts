/**
 * Compiles the single executable:
 * `bun scripts/build.ts [--target bun-linux-arm64-musl] [--outfile path] [--commit abc123]`.
 * The git commit is baked in for `--version`. Bun's own start-up autoloading of .env, bunfig,
 * tsconfig and package.json is turned off: configuration is read by src/config/config.ts alone.
 * The operator console's page (src/console/web) is bundled first and baked in as strings, so the
 * binary serves it with no file beside it and no network.
 */

import { parseArgs } from "node:util";
import { $ } from "bun";
import { buildConsoleAssets } from "../src/console/web-build.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    target: { type: "string" },
    outfile: { type: "string", default: "dist/rune-scheduler" },
    "no-bytecode": { type: "boolean", default: false },
    /** The commit to stamp when there is no git to ask (a container build context). */
    commit: { type: "string" },
  },
});

async function gitStamp(): Promise<string> {
  const commit = (await $`git rev-parse --short=12 HEAD`.nothrow().quiet().text()).trim() || "unknown";
  const dirty = (await $`git status --porcelain --untracked-files=no`.nothrow().quiet().text()).trim() !== "";
  return dirty ? `${commit}-dirty` : commit;
}
const stamp = values.commit ?? (await gitStamp());

const consoleAssets = await buildConsoleAssets();

const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  minify: true,
  bytecode: !values["no-bytecode"],
  sourcemap: "none",
  define: { RUNE_BUILD_COMMIT: JSON.stringify(stamp), RUNE_CONSOLE_ASSETS: JSON.stringify(consoleAssets) },
  compile: {
    outfile: values.outfile,
    ...(values.target ? { target: values.target as Bun.Build.CompileTarget } : {}),
    autoloadDotenv: false,
    autoloadBunfig: false,
    autoloadTsconfig: false,
    autoloadPackageJson: false,
  },
});
if (!result.success) {
  for (const message of result.logs) console.error(message);
  process.exit(1);
}
console.log(`built ${values.outfile} (${stamp}${values.target ? `, ${values.target}` : ""})`);
