/// <reference lib="dom" />
/**
 * The page's side of the console API. The token lives in sessionStorage for this tab only: it is
 * sent as a bearer header, never put in a URL or a cookie.
 */

import type { Refusal } from "../contract.ts";

const KEY = "rune-console-token";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const token = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (value: string) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const value = token.get();
  return value ? { ...extra, authorization: `Bearer ${value}` } : extra;
}

async function answer<T>(response: Response): Promise<T> {
  let body: Partial<Omit<Refusal, "ok">> & { ok?: boolean } = {};
  try {
    body = await response.json();
  } catch {
    body = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok || body.ok === false) throw new ApiError(response.status, body.error ?? `HTTP ${response.status}`);
  return body as T;
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return answer<T>(await fetch(`/console/api/${path}`, { headers: headers(), signal: signal ?? null }));
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(`/console/api/${path}`, {
    method: "POST",
    headers: headers({ "content-type": "application/json" }),
    body: JSON.stringify(body),
  });
  return answer<T>(response);
}

/** The event stream over fetch (EventSource cannot send the header); resolves when it ends. */
export async function stream(signal: AbortSignal, onEvent: (event: string, data: string) => void): Promise<void> {
  const response = await fetch("/console/api/events", { headers: headers(), signal });
  if (!response.ok || !response.body) throw new ApiError(response.status, "no event stream");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (!block.startsWith(":")) onEvent(event, data);
      end = buffer.indexOf("\n\n");
    }
  }
}
