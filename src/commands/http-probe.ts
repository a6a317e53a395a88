/**
 * Asking a running instance over HTTP, shared by `healthcheck` and `stats`: the `--url` argument,
 * the local address of a configured listener, and a GET with a deadline on the whole exchange.
 */

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { rootCertificates, type TLSSocket } from "node:tls";
import type { ArgsDef } from "citty";

const MAX_BODY_BYTES = 1 << 20;

export const urlArg = {
  url: {
    type: "string",
    description: "base URL of the instance to ask (default http://SCHEDULER_HTTP_HOST:SCHEDULER_HTTP_PORT)",
    valueHint: "http://host:port",
  },
} as const satisfies ArgsDef;

/**
 * Where a client on this machine reaches a server listening on `host`: a wildcard means loopback.
 * `https` when the server serves a certificate (SCHEDULER_HTTP_TLS_CERT).
 */
export function localBaseUrl(host: string, port: number, scheme: "http" | "https" = "http"): string {
  const bare = host.replace(/^\[|\]$/g, "");
  const target = bare === "0.0.0.0" ? "127.0.0.1" : bare === "::" ? "::1" : bare;
  return `${scheme}://${target.includes(":") ? `[${target}]` : target}:${port}`;
}

/**
 * What an HTTPS probe trusts. `ca`: a PEM file (SCHEDULER_HTTP_TLS_CA) trusted beside the system's
 * CAs. `local`: the instance configured on this machine, asked at the address it listens on
 * (often 127.0.0.1, a name no certificate holds): its chain is checked, its name is not.
 */
export interface ProbeTrust {
  readonly ca: string | null;
  readonly local: boolean;
  /**
   * The local instance's own certificate file (SCHEDULER_HTTP_TLS_CERT): without a CA to trust,
   * the probe accepts exactly that certificate, so a container's HEALTHCHECK needs nothing more.
   */
  readonly pin?: string | null;
}

/** The first certificate of a PEM file, DER-encoded, to compare with what a server presents. */
function pinnedDer(path: string): Buffer {
  return new X509Certificate(readFileSync(path)).raw;
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

interface HttpAnswer {
  status: number;
  body: string;
}

class ProbeTimeout extends Error {
  readonly code = "PROBE_TIMEOUT";
}

/**
 * What an HTTPS probe trusts, as tls.connect options. The local instance is asked by an address
 * no certificate holds, so its name is not checked: then only SCHEDULER_HTTP_TLS_CA is trusted,
 * since with the public roots beside it any certificate a public CA issued, for any name, passed.
 */
export function probeTlsOptions(trust: ProbeTrust): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (trust.ca !== null) {
    const ca = readFileSync(trust.ca, "utf8");
    options.ca = trust.local ? [ca] : [...rootCertificates, ca];
  }
  if (trust.local) options.checkServerIdentity = () => undefined;
  return options;
}

/**
 * GET with a deadline on the whole exchange. node:http rather than fetch: Bun's fetch sends
 * even 127.0.0.1 through HTTP_PROXY, which a container may well have set.
 */
export function httpGet(
  url: string,
  timeoutMs: number,
  trust: ProbeTrust = { ca: null, local: false },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const https = target.protocol === "https:";
    const send = https ? httpsRequest : httpRequest;
    const options: Record<string, unknown> = {
      method: "GET",
      headers: { connection: "close" },
      ...(https ? probeTlsOptions(trust) : {}),
    };
    const pin = https && trust.local && trust.ca === null && trust.pin ? pinnedDer(trust.pin) : null;
    if (pin !== null) options.rejectUnauthorized = false;
    const request = send(target, options, (response: IncomingMessage) => {
      if (pin !== null && !(response.socket as TLSSocket).getPeerCertificate().raw?.equals(pin)) {
        response.destroy();
        return fail(
          Object.assign(new Error("the server presented a certificate other than SCHEDULER_HTTP_TLS_CERT's"), {
            code: "CERT_NOT_PINNED",
          }),
        );
      }
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
    const timer = setTimeout(
      () => request.destroy(new ProbeTimeout(`timed out after ${timeoutMs / 1000}s`)),
      timeoutMs,
    );
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
  if (/SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|CERT_UNTRUSTED/.test(code)) {
    return `the server's certificate is not trusted (${message}); set SCHEDULER_HTTP_TLS_CA to the CA that signed it (for a self-signed certificate, the certificate itself)`;
  }
  if (code === "CERT_NOT_PINNED") {
    return `${message} (replaced moments ago? the server serves a new one within seconds, or at once on SIGHUP); set SCHEDULER_HTTP_TLS_CA to trust its CA instead`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return `${message}; ask by a name the certificate holds`;
  if (code === "ECONNRESET" || /WRONG_VERSION_NUMBER|wrong version number/i.test(`${code} ${message}`)) {
    return `${message}${code ? ` [${code}]` : ""}: is the server HTTPS (use https:// in --url) or plain HTTP (http://)?`;
  }
  return `${message}${code && !message.includes(code) ? ` [${code}]` : ""}`;
}
