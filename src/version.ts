import pkg from "../package.json" with { type: "json" };

// Replaced at build time by `bun build --define` (scripts/build.ts); absent when run from source.
declare const RUNE_BUILD_COMMIT: string | undefined;

const VERSION: string = pkg.version;
export const COMMIT: string = typeof RUNE_BUILD_COMMIT === "string" ? RUNE_BUILD_COMMIT : "source";
export const VERSION_LINE = `${VERSION} (commit ${COMMIT})`;
