/**
 * A `.env` parser for the usual shell-like form: `KEY=value`, optional `export `, single or
 * double quotes, `#` comments. Values are never expanded; a malformed line is ignored the way
 * docker and systemd ignore it, since the variables it would set are validated anyway.
 */
export function parseDotenv(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    const [, key, rest] = match as unknown as [string, string, string];
    result[key] = unquote(rest);
  }
  return result;
}

function unquote(value: string): string {
  const quote = value[0];
  if ((quote === '"' || quote === "'") && value.length >= 2) {
    const end = value.indexOf(quote, 1);
    if (end > 0) {
      const inner = value.slice(1, end);
      return quote === '"' ? inner.replaceAll("\\n", "\n").replaceAll('\\"', '"') : inner;
    }
  }
  // An unquoted value ends at a ` #` comment.
  return value.replace(/\s+#.*$/, "").trim();
}
