/**
 * Where each configuration value came from (a flag, the environment, a `*_FILE`, `./.env`, the
 * default), so an error about a host can say why the program used that host: run from another
 * directory, `./.env` is not there and POSTGRES_HOST silently falls back to its default.
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";

export type Origin = "flag" | "environment" | "file" | "dotenv" | "default";

/** Where `./.env` was looked for (an absolute path), and whether a file was there. */
export interface DotenvLocation {
  readonly path: string;
  readonly found: boolean;
}

/** `./.env` of the working directory: the only place it is read from. */
export function dotenvLocation(cwd: string = process.cwd()): DotenvLocation {
  const path = resolve(cwd, ".env");
  return { path, found: existsSync(path) };
}

/** `./.env at /srv/rune/.env`, or `no ./.env in /srv/rune`. */
function describeDotenv(dotenv: DotenvLocation): string {
  return dotenv.found ? `./.env at ${dotenv.path}` : `no ./.env in ${dirname(dotenv.path)}`;
}

function originText(origin: Origin, name: string, dotenv: DotenvLocation | null): string {
  switch (origin) {
    case "flag":
      return `from --${name}`;
    case "environment":
      return "from the environment";
    case "file":
      return "from its _FILE";
    case "dotenv":
      return dotenv ? `from ${describeDotenv(dotenv)}` : "from ./.env";
    case "default":
      if (!dotenv) return "default";
      return dotenv.found ? `default; not set in ${describeDotenv(dotenv)}` : `default; ${describeDotenv(dotenv)}`;
  }
}

interface ShownValue {
  readonly env: string;
  /** The flag's name, for a value that came from one. */
  readonly flag: string;
  /** The value as an error may show it (a URL masked). */
  readonly shown: string;
  readonly origin: Origin;
}

/**
 * `POSTGRES_HOST=db (default; no ./.env in /tmp); POSTGRES_PORT=1 (from the environment)`:
 * values of one origin in a row share its note.
 */
export function describeValues(values: readonly ShownValue[], dotenv: DotenvLocation | null): string {
  const groups: { note: string; items: string[] }[] = [];
  for (const value of values) {
    const note = originText(value.origin, value.flag, dotenv);
    const item = `${value.env}=${value.shown}`;
    const last = groups.at(-1);
    if (last && last.note === note && value.origin !== "flag") last.items.push(item);
    else groups.push({ note, items: [item] });
  }
  return groups.map((group) => `${group.items.join(", ")} (${group.note})`).join("; ");
}
