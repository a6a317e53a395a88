/**
 * The live views' stream: Server-Sent Events, one `changed` event at most every
 * {@link COALESCE_MS} carrying the ids fired since the last, and a comment line as a heartbeat.
 * The server's idle timeout is lifted for the stream (routes.ts), and the heartbeat comes well
 * within Bun's default one (10 s) and a proxy's usual ones (60 s) besides, so a quiet instance
 * keeps its stream.
 * The page reads it with fetch (EventSource cannot send the Authorization header). When the
 * client goes, the abort signal removes the listener and the timers: a closed tab costs nothing.
 */
import type { ConsoleFeed } from "./feed.ts";

const COALESCE_MS = 1_000;
export const HEARTBEAT_MS = 5_000;
/** Ids sent in one event; past it the page refreshes whatever it shows. */
const MAX_IDS = 200;

export function eventStream(feed: ConsoleFeed, signal: AbortSignal, headers: Record<string, string>): Response {
  const encoder = new TextEncoder();
  let cleanup = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const pending = new Set<number>();
      let dirty = false;
      let overflow = false;
      let closed = false;
      const send = (text: string) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          cleanup();
        }
      };
      const flush = () => {
        if (!dirty) return;
        const ids = overflow ? null : [...pending];
        pending.clear();
        dirty = false;
        overflow = false;
        send(`event: changed\ndata: ${JSON.stringify({ ids })}\n\n`);
      };
      const unsubscribe = feed.subscribe((change) => {
        dirty = true;
        for (const id of change.ids) {
          if (pending.size >= MAX_IDS) overflow = true;
          else pending.add(id);
        }
      });
      const flushTimer = setInterval(flush, COALESCE_MS);
      const heartbeat = setInterval(() => send(": keep-alive\n\n"), HEARTBEAT_MS);
      cleanup = () => {
        if (closed) return;
        closed = true;
        unsubscribe();
        clearInterval(flushTimer);
        clearInterval(heartbeat);
        signal.removeEventListener("abort", cleanup);
        try {
          controller.close();
        } catch {}
      };
      signal.addEventListener("abort", cleanup);
      send(`retry: 5000\nevent: hello\ndata: {}\n\n`);
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(body, {
    status: 200,
    headers: { ...headers, "content-type": "text/event-stream; charset=utf-8", "x-accel-buffering": "no" },
  });
}
