/**
 * `healthcheck`: the container HEALTHCHECK for an image with no shell and no curl. Probes
 * `/healthz` of the local instance and exits 0 on a 200, 1 on anything else, within 3 s.
 * It never exits 2, not even on a bad configuration: Docker reserves that code.
 */
import { defineCommand } from "citty";
import { EXIT } from "../cli/exit.ts";
import { ConfigError } from "../config/config.ts";
import {
  httpGet,
  localBaseUrl,
  type ProbeTrust,
  parseUrlArg,
  probeFailure,
  type Target,
  urlArg,
} from "./http-probe.ts";
import { httpArgs, loadConfigFor } from "./shared.ts";

/** The whole probe, connect to last byte; leaves the 3 s budget room for the process start. */
const HEALTHCHECK_TIMEOUT_MS = 2_500;

/**
 * `--url` when given, else the configured HTTP host and port, https when the instance serves a
 * certificate. The CA to trust (SCHEDULER_HTTP_TLS_CA) comes from the configuration either way;
 * with `--url`, a configuration that does not load is no reason not to ask.
 */
function resolveTarget(url: unknown, args: Record<string, unknown>): Target & { trust?: ProbeTrust } {
  if (typeof url === "string" && url !== "") {
    let ca: string | null = null;
    try {
      ca = loadConfigFor(args).httpTlsCa;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
    }
    return { ...parseUrlArg(url), trust: { ca, local: false } };
  }
  try {
    const config = loadConfigFor(args);
    if (config.httpPort === 0) {
      return {
        error: "SCHEDULER_HTTP_PORT=0 turns the HTTP server off, so there is nothing to ask; enable it or pass --url",
      };
    }
    return {
      base: localBaseUrl(config.httpHost, config.httpPort, config.httpTls ? "https" : "http"),
      trust: { ca: config.httpTlsCa, local: true, pin: config.httpTls?.cert ?? null },
    };
  } catch (error) {
    if (error instanceof ConfigError) return { error: `configuration error: ${error.message}` };
    throw error;
  }
}

const firstLine = (text: string) => text.trim().split("\n")[0]!.slice(0, 200);

/** Probes `<base>/healthz`; the line to print and whether it was healthy. Never throws. */
async function probeHealth(
  base: string,
  trust: ProbeTrust | undefined,
  timeoutMs = HEALTHCHECK_TIMEOUT_MS,
): Promise<{ ok: boolean; line: string }> {
  const url = `${base}/healthz`;
  try {
    const answer = await httpGet(url, timeoutMs, trust);
    const said = firstLine(answer.body);
    if (answer.status === 200) return { ok: true, line: `healthy: ${url} answered 200${said ? ` ${said}` : ""}` };
    return { ok: false, line: `unhealthy: ${url} answered ${answer.status}${said ? `: ${said}` : ""}` };
  } catch (error) {
    return { ok: false, line: `unhealthy: no answer from ${url}: ${probeFailure(error)}` };
  }
}

export default defineCommand({
  meta: {
    name: "healthcheck",
    description: "Probe /healthz of the local instance (exit 0 healthy, 1 not): a HEALTHCHECK for images with no shell",
  },
  // Only the flags that say where to probe: the rest of the configuration is not its business.
  args: { ...urlArg, ...httpArgs },
  async run({ args }) {
    const target = resolveTarget(args.url, args);
    if ("error" in target) {
      process.stderr.write(`unhealthy: ${target.error}\n`);
      process.exitCode = EXIT.failed;
      return;
    }
    const result = await probeHealth(target.base, target.trust);
    (result.ok ? process.stdout : process.stderr).write(`${result.line}\n`);
    process.exitCode = result.ok ? EXIT.ok : EXIT.failed;
  },
});
