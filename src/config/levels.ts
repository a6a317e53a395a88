/** Log levels as operators name them (the original service used Python's names). */
const LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `warn`, `Warning`, `WARNING` → `WARNING`; anything unknown → null. */
export function parseLogLevel(text: string): LogLevel | null {
  const upper = text.trim().toUpperCase();
  if (upper === "WARN") return "WARNING";
  return (LOG_LEVELS as readonly string[]).includes(upper) ? (upper as LogLevel) : null;
}

export function levelRank(level: LogLevel): number {
  return LOG_LEVELS.indexOf(level);
}
