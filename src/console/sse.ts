/**
 * The live views' stream: Server-Sent Events, one `changed` event at most every
 * {@link COALESCE_MS} carrying the ids fired since the last, and a comment line as a heartbeat.
 * The server's idle timeout is lifted for the stream (routes.ts), and the heartbeat comes well
 * within Bun's default one (10 s) and a proxy's usual ones (60 s) besides, so a quiet instance
 * keeps its stream.
 * The page reads it with fetch (EventSource cannot send the Authorization header). When the
 * client goes, the abort signal removes the listener and the timers: a closed tab costs nothing.
 * A client that stays connected but stops reading would make the stream hold every event from
 * then on, with no idle timeout to end it: past {@link MAX_UNSENT} events it has not taken, the
 * stream is dropped and the connection handed back to the idle timeout (`stalled`).
 */
import type { ConsoleFeed } from "./feed.ts";

const COALESCE_MS = 1_000;
export const HEARTBEAT_MS = 5_000;
/** Ids sent in one event; past it the page refreshes whatever it shows. */
const MAX_IDS = 200;
/** Events queued for a client that is not reading them before its stream is dropped (the page reconnects). */
export const MAX_UNSENT = 32;

export function eventStream(
  feed: Pick<ConsoleFeed, "subscribe">,
  signal: AbortSignal,
  headers: Record<string, string>,
  stalled: () => void,
  pace: { readonly coalesceMs: number; readonly heartbeatMs: number } = {
    coalesceMs: COALESCE_MS,
    heartbeatMs: HEARTBEAT_MS,
  },
): Response {
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
        // The default queue holds one chunk; far below it, the client has stopped taking them.
        if ((controller.desiredSize ?? 0) < -MAX_UNSENT) {
          controller.error(new Error("the client stopped reading the stream"));
          cleanup();
          stalled();
          return;
        }
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
      const flushTimer = setInterval(flush, pace.coalesceMs);
      const heartbeat = setInterval(() => send(": keep-alive\n\n"), pace.heartbeatMs);
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
