/**
 * The `.env` file is read by the runtime's own parser, `node:util`'s `parseEnv` (Node's
 * `--env-file` rules): `KEY=value`, optional `export `, single, double or backtick quotes (double
 * quotes may span lines and turn `\n` into a line feed), `#` comments. Values are never expanded;
 * a line it cannot read is skipped, since the variables it would set are validated anyway.
 * An unquoted value ends at a `#`, even one inside a word: quote a value that holds one.
 */
import { parseEnv } from "node:util";

export function parseDotenv(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(parseEnv(text))) if (value !== undefined) result[key] = value;
  return result;
}
