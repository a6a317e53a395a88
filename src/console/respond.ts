/** Every console answer is built here: the security headers on each, errors as JSON with a reason. */
import type { Refusal } from "./contract.ts";

/** No inline script or style anywhere: the page's code and styles are separate files. */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
});

export function json(body: unknown, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8", ...extra },
  });
}

/** A refusal: `{ ok: false, error }` with a status that says whose fault it is. */
export function refuse(status: number, error: string, extra: Record<string, string> = {}): Response {
  return json({ ok: false, error } satisfies Refusal, status, extra);
}

export function asset(body: string, type: string): Response {
  return new Response(body, { status: 200, headers: { ...SECURITY_HEADERS, "content-type": type } });
}

/** Bad input: thrown by the parsers, answered 4xx. */
export class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = "BadRequest";
  }
}
