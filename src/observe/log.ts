/**
 * Logging: consola as a level filter plus one reporter that writes text or JSON lines,
 * DEBUG/INFO to stdout and WARNING and above to stderr, with every secret scrubbed.
 */
import { type ConsolaReporter, createConsola, type LogObject } from "consola/core";
import { type LogFormat, type LogLevel, levelRank } from "../config/levels.ts";
import { redact } from "../config/redact.ts";

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  critical(message: string, fields?: Fields): void;
}

export interface LogSink {
  stdout(line: string): void;
  stderr(line: string): void;
}

const processSink: LogSink = {
  stdout: (line) => process.stdout.write(line),
  stderr: (line) => process.stderr.write(line),
};

interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  secrets?: readonly string[];
  sink?: LogSink;
}

const LEVEL_OF_TYPE: Record<string, LogLevel> = {
  trace: "DEBUG",
  verbose: "DEBUG",
  debug: "DEBUG",
  log: "INFO",
  info: "INFO",
  success: "INFO",
  ready: "INFO",
  start: "INFO",
  box: "INFO",
  warn: "WARNING",
  error: "ERROR",
  fail: "ERROR",
  fatal: "CRITICAL",
};

export function createLogger(options: LoggerOptions): Logger {
  const sink = options.sink ?? processSink;
  const threshold = levelRank(options.level);
  const secrets = options.secrets ?? [];
  const reporter: ConsolaReporter = {
    log(logObj: LogObject) {
      const level = LEVEL_OF_TYPE[logObj.type] ?? "INFO";
      if (levelRank(level) < threshold) return;
      const line = `${redact(formatLine(options.format, level, logObj), secrets)}\n`;
      if (levelRank(level) >= levelRank("WARNING")) sink.stderr(line);
      else sink.stdout(line);
    },
  };
  // Level 5 lets everything through to our reporter, which applies the operator's level; the
  // throttle is off because folding repeated lines would hide repeated failures.
  const consola = createConsola({ level: 5, reporters: [reporter], throttle: 0 });
  // A level below the threshold is dropped here, before consola builds its log object: the
  // engine writes a DEBUG line per fire, and at INFO that would cost every fire an allocation.
  const emit = (type: "debug" | "info" | "warn" | "error" | "fatal") => {
    if (levelRank(LEVEL_OF_TYPE[type]!) < threshold) return (): void => {};
    return (message: string, fields?: Fields): void => {
      if (fields === undefined) consola[type](message);
      else consola[type](message, fields);
    };
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    critical: emit("fatal"),
  };
}

function formatLine(format: LogFormat, level: LogLevel, logObj: LogObject): string {
  const [first, ...rest] = logObj.args as unknown[];
  const message = typeof first === "string" ? first : stringify(first);
  const fields: Fields = {};
  const extra: string[] = [];
  for (const arg of rest) {
    if (arg instanceof Error) Object.assign(fields, errorFields(arg));
    else if (arg && typeof arg === "object") {
      for (const [key, value] of Object.entries(arg)) {
        if (value instanceof Error) Object.assign(fields, errorFields(value, key));
        else if (value !== undefined) fields[key] = value;
      }
    } else extra.push(String(arg));
  }
  const text = extra.length ? `${message} ${extra.join(" ")}` : message;
  const time = logObj.date.toISOString();
  if (format === "json") return JSON.stringify({ time, level, msg: text, ...fields });
  const pairs = Object.entries(fields)
    .filter(([key]) => key !== "stack")
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  const stack = typeof fields.stack === "string" ? `\n${fields.stack}` : "";
  return `${time} ${level} ${text}${pairs.length ? ` ${pairs.join(" ")}` : ""}${stack}`;
}

function errorFields(error: Error, key = "error"): Fields {
  const code = (error as { code?: unknown }).code;
  return {
    [key]: error.message,
    ...(code !== undefined ? { [`${key}_code`]: code } : {}),
    ...(key === "error" && error.stack ? { stack: error.stack } : {}),
  };
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  return stringify(value);
}

function stringify(value: unknown): string {
  try {
    return typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}
