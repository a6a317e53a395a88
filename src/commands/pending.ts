import { defineCommand } from "citty";
import { EXIT } from "./shared.ts";

/** A command whose issue has not landed yet: says so, never fakes output. */
export function notImplemented(name: string, description: string) {
  return defineCommand({
    meta: { name, description: `${description} (not implemented yet)` },
    run() {
      process.stderr.write(`rune-scheduler ${name}: not implemented yet\n`);
      process.exitCode = EXIT.failed;
    },
  });
}
