/**
 * `healthcheck`: the container HEALTHCHECK for an image with no shell and no curl. Probes
 * `/healthz` of the local instance and exits 0 on a 200, 1 on anything else, within 3 s.
 * It never exits 2, not even on a bad configuration: Docker reserves that code.
 */
import { defineCommand, type ArgsDef } from "citty";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { ConfigError } from "../config.ts";
import { EXIT, httpArgs, loadConfigFor } from "./shared.ts";

/** The whole probe, connect to last byte; leaves the 3 s budget room for the process start. */
export const HEALTHCHECK_TIMEOUT_MS = 2_500;
const MAX_BODY_BYTES = 1 << 20;

export const urlArg = {
  url: {
    type: "string",
    description: "base URL of the instance to ask (default http://SCHEDULER_HTTP_HOST:SCHEDULER_HTTP_PORT)",
    valueHint: "http://host:port",
  },
} as const satisfies ArgsDef;

/** Where a client on this machine reaches a server listening on `host`: a wildcard means loopback. */
export function localBaseUrl(host: string, port: number): string {
  const bare = host.replace(/^\[|\]$/g, "");
  const target = bare === "0.0.0.0" ? "127.0.0.1" : bare === "::" ? "::1" : bare;
  return `http://${target.includes(":") ? `[${target}]` : target}:${port}`;
}

export type Target = { base: string } | { error: string };

/** A `--url` value → the base URL to append paths to, or why it is unusable. */
export function parseUrlArg(url: string): Target {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    return { error: `--url ${JSON.stringify(url)} is invalid: expected http://host:port` };
  }
  return { base: `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}` };
}

/** `--url` when given, else the configured HTTP host and port (read from the environment only then). */
export function resolveTarget(url: unknown, args: Record<string, unknown>): Target {
  if (typeof url === "string" && url !== "") return parseUrlArg(url);
  try {
    const config = loadConfigFor(args);
    if (config.httpPort === 0) {
      return { error: "SCHEDULER_HTTP_PORT=0 turns the HTTP server off, so there is nothing to ask; enable it or pass --url" };
    }
    return { base: localBaseUrl(config.httpHost, config.httpPort) };
  } catch (error) {
    if (error instanceof ConfigError) return { error: `configuration error: ${error.message}` };
    throw error;
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
}

class ProbeTimeout extends Error {
  readonly code = "PROBE_TIMEOUT";
}

/**
 * GET with a deadline on the whole exchange. node:http rather than fetch: Bun's fetch sends
 * even 127.0.0.1 through HTTP_PROXY, which a container may well have set.
 */
export function httpGet(url: string, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const request = send(target, { method: "GET", headers: { connection: "close" } }, (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      response.on("end", () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
      });
      response.on("error", fail);
    });
    const timer = setTimeout(() => request.destroy(new ProbeTimeout(`timed out after ${timeoutMs / 1000}s`)), timeoutMs);
    function fail(error: Error) {
      clearTimeout(timer);
      reject(error);
    }
    request.on("error", fail);
    request.end();
  });
}

/** Why an exchange failed, in a few words: "connection refused", "timed out after 1s". */
export function probeFailure(error: unknown): string {
  const code = String((error as { code?: unknown })?.code ?? "");
  const message = (error as Error)?.message ?? String(error);
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "PROBE_TIMEOUT") return message;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host name not found";
  return `${message}${code && !message.includes(code) ? ` [${code}]` : ""}`;
}

const firstLine = (text: string) => text.trim().split("\n")[0]!.slice(0, 200);

/** Probes `<base>/healthz`; the line to print and whether it was healthy. Never throws. */
export async function probeHealth(base: string, timeoutMs = HEALTHCHECK_TIMEOUT_MS): Promise<{ ok: boolean; line: string }> {
  const url = `${base}/healthz`;
  try {
    const answer = await httpGet(url, timeoutMs);
    const said = firstLine(answer.body);
    if (answer.status === 200) return { ok: true, line: `healthy: ${url} answered 200${said ? ` ${said}` : ""}` };
    return { ok: false, line: `unhealthy: ${url} answered ${answer.status}${said ? `: ${said}` : ""}` };
  } catch (error) {
    return { ok: false, line: `unhealthy: no answer from ${url}: ${probeFailure(error)}` };
  }
}

export default defineCommand({
  meta: { name: "healthcheck", description: "Probe /healthz of the local instance (exit 0 healthy, 1 not): a HEALTHCHECK for images with no shell" },
  // Only the flags that say where to probe: the rest of the configuration is not its business.
  args: { ...urlArg, ...httpArgs },
  async run({ args }) {
    const target = resolveTarget(args.url, args);
    if ("error" in target) {
      process.stderr.write(`unhealthy: ${target.error}\n`);
      process.exitCode = EXIT.failed;
      return;
    }
    const result = await probeHealth(target.base);
    (result.ok ? process.stdout : process.stderr).write(result.line + "\n");
    process.exitCode = result.ok ? EXIT.ok : EXIT.failed;
  },
});
