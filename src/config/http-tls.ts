import { unreadable } from "./readable.ts";
import type { Fail, Getter } from "./values.ts";

export interface HttpTlsConfig {
  /** PEM certificate (chain) file. */
  readonly cert: string;
  /** PEM private key file (unencrypted). */
  readonly key: string;
}

/** The server's certificate and key, or null for plain HTTP. */
export function httpTlsConfig(get: Getter, fail: Fail): HttpTlsConfig | null {
  const cert = get("SCHEDULER_HTTP_TLS_CERT").trim();
  const key = get("SCHEDULER_HTTP_TLS_KEY").trim();
  if (cert === "" && key === "") return null;
  if (cert === "")
    fail("SCHEDULER_HTTP_TLS_CERT", "a PEM certificate file beside SCHEDULER_HTTP_TLS_KEY (both or neither)");
  if (key === "") fail("SCHEDULER_HTTP_TLS_KEY", "a PEM key file beside SCHEDULER_HTTP_TLS_CERT (both or neither)");
  const certProblem = unreadable(cert);
  if (certProblem) fail("SCHEDULER_HTTP_TLS_CERT", `a readable PEM file (${certProblem})`);
  const keyProblem = unreadable(key);
  if (keyProblem) fail("SCHEDULER_HTTP_TLS_KEY", `a readable PEM file (${keyProblem})`);
  return { cert, key };
}

/** SCHEDULER_HTTP_TLS_CA: a readable PEM file, or null. */
export function httpTlsCa(get: Getter, fail: Fail): string | null {
  const ca = get("SCHEDULER_HTTP_TLS_CA").trim();
  if (ca === "") return null;
  const problem = unreadable(ca);
  if (problem) fail("SCHEDULER_HTTP_TLS_CA", `a readable PEM file (${problem})`);
  return ca;
}
