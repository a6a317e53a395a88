/**
 * The operator console's settings: off unless a token (or read-only mode) is given, the token
 * itself, and the extra Host names it answers to. Parsed through config.ts's `get` and `fail`.
 */
import type { Fail, Getter } from "./values.ts";

export interface ConsoleConfig {
  /** `token`: every console API needs the bearer token, actions included; `read-only`: views only, no token. */
  readonly mode: "token" | "read-only";
  /** The bearer token (mode `token`), null in read-only mode. A secret: never log it. */
  readonly token: string | null;
  /** Host names (`name` matches any port, `name:port` only that one), lowercased, besides the bound address. */
  readonly hosts: readonly string[];
}

/** Short enough to type, long enough that guessing it over HTTP is hopeless. */
const MIN_TOKEN_LENGTH = 16;

const HOST_ENTRY =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

function parseConsoleHosts(text: string): string[] | null {
  if (text.trim() === "") return [];
  const entries = text.split(",").map((entry) => entry.trim().toLowerCase());
  for (const entry of entries) {
    if (!HOST_ENTRY.test(entry)) return null;
    const port = /\]?:(\d+)$/.exec(entry)?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return null;
  }
  return entries;
}

export function consoleConfig(get: Getter, fail: Fail, httpOff: boolean): ConsoleConfig | null {
  const mode = get("SCHEDULER_CONSOLE").trim().toLowerCase();
  const token = get("SCHEDULER_CONSOLE_TOKEN");
  if (!["", "off", "read-only"].includes(mode)) {
    fail("SCHEDULER_CONSOLE", "read-only or off (unset: on when SCHEDULER_CONSOLE_TOKEN is set)");
  }
  const hosts = parseConsoleHosts(get("SCHEDULER_CONSOLE_HOSTS"));
  if (hosts === null)
    fail("SCHEDULER_CONSOLE_HOSTS", "host names or addresses, comma-separated, each optionally :port");
  if (mode === "off" || (mode === "" && token === "")) return null;
  if (mode === "read-only" && token !== "") {
    // Read-only serves without a token: a token beside it would only look like protection.
    fail("SCHEDULER_CONSOLE", "unset (the token turns the console on) when SCHEDULER_CONSOLE_TOKEN is set");
  }
  if (mode === "" && (token.length < MIN_TOKEN_LENGTH || /\s/.test(token))) {
    fail(
      "SCHEDULER_CONSOLE_TOKEN",
      `at least ${MIN_TOKEN_LENGTH} characters without spaces (e.g. openssl rand -hex 24)`,
    );
  }
  if (httpOff) fail("SCHEDULER_HTTP_PORT", "a port other than 0: the console is served on the HTTP server");
  return Object.freeze({
    mode: mode === "read-only" ? "read-only" : "token",
    token: mode === "" ? token : null,
    hosts: hosts!,
  });
}
