/**
 * The console's door: every request under /console passes the Host check, every API request the
 * token (unless read-only), every action the mode, Origin, Content-Type and body checks. Then
 * the page, its assets, the read API, the event stream or an action. Bad input is a 4xx JSON
 * with a reason; nothing answers with an error's internals.
 */
import { ACTIONS, type Action, runAction } from "./actions.ts";
import { createReads, sessionInfo } from "./api.ts";
import { consoleAssets } from "./assets.ts";
import { bearerToken, hostAllowed, sameOrigin, tokenMatches } from "./auth.ts";
import { BULK_ACTIONS, type BulkAction, runBulkAction } from "./bulk-actions.ts";
import type { ConsoleContext } from "./context.ts";
import { MAX_BODY_BYTES, scheduleId } from "./input.ts";
import { pageHtml } from "./page.ts";
import { asset, BadRequest, json, refuse, SECURITY_HEADERS } from "./respond.ts";
import { eventStream } from "./sse.ts";

export const PREFIX = "/console";
/** Live streams open at once; each is a few timers, but a loop of reconnects must stay bounded. */
const MAX_STREAMS = 32;

export type ConsoleHandler = (request: Request, remote: string) => Promise<Response> | null;

export function createConsoleHandler(context: ConsoleContext): ConsoleHandler {
  const reads = createReads(context);
  let streams = 0;

  const handle = async (request: Request, url: URL, remote: string): Promise<Response> => {
    const host = request.headers.get("host");
    if (!hostAllowed(host, context.bound(), context.config.hosts))
      return refuse(421, "this Host is not one the console answers to: add it to SCHEDULER_CONSOLE_HOSTS");
    const path = url.pathname;
    const method = request.method;
    const reading = method === "GET" || method === "HEAD";

    if (!path.startsWith(`${PREFIX}/api/`)) {
      if (!reading) return refuse(405, "method not allowed", { allow: "GET, HEAD" });
      if (path === PREFIX || path === `${PREFIX}/`)
        return asset(pageHtml(context.config.mode), "text/html; charset=utf-8");
      const assets = await consoleAssets();
      if (path === `${PREFIX}/app.js`) return asset(assets.js, "text/javascript; charset=utf-8");
      if (path === `${PREFIX}/app.css`) return asset(assets.css, "text/css; charset=utf-8");
      if (path === `${PREFIX}/icon.svg`) return asset(assets.icon, "image/svg+xml");
      return refuse(404, "not found");
    }

    if (context.config.mode === "token") {
      const given = bearerToken(request.headers.get("authorization"));
      if (given === null || !tokenMatches(given, context.config.token ?? ""))
        return refuse(401, "a valid console token is needed (Authorization: Bearer)", {
          "www-authenticate": 'Bearer realm="rune-scheduler console"',
        });
    }
    const route = path.slice(`${PREFIX}/api/`.length).split("/");
    if (reading) {
      if (url.search !== "" && route[0] !== "schedules") throw new BadRequest("this endpoint takes no parameters");
      if (route.length === 1 && route[0] === "session") return json(sessionInfo(context));
      if (route.length === 1 && route[0] === "overview") return reads.overview();
      if (route.length === 2 && route[0] === "overview" && route[1] === "counts") return reads.counts();
      if (route.length === 1 && route[0] === "schedules") return reads.list(url.searchParams);
      if (route.length === 2 && route[0] === "schedules") return reads.detail(route[1]!);
      if (route.length === 1 && route[0] === "events") {
        // A HEAD would take a stream slot that nothing gives back: its abort signal never fires.
        if (method === "HEAD") return refuse(405, "the live stream is GET only", { allow: "GET" });
        if (streams >= MAX_STREAMS)
          return refuse(503, `at most ${MAX_STREAMS} live streams at once; the page polls instead`);
        streams += 1;
        const done = () => {
          streams -= 1;
        };
        request.signal.addEventListener("abort", done, { once: true });
        return eventStream(context.feed, request.signal, SECURITY_HEADERS);
      }
      return refuse(404, "not found");
    }
    if (method !== "POST") return refuse(405, "method not allowed", { allow: "GET, HEAD, POST" });
    const action = route[2] as Action;
    const bulk = route.length === 2 && route[0] === "bulk" ? (route[1] as BulkAction) : null;
    if (
      bulk !== null
        ? !BULK_ACTIONS.includes(bulk)
        : route.length !== 3 || route[0] !== "schedules" || !ACTIONS.includes(action)
    )
      return refuse(404, "not found");
    if (context.config.mode !== "token") return refuse(403, "this console is read-only: actions are off");
    if (!sameOrigin(request.headers.get("origin"), host, request.headers.get("sec-fetch-site")))
      return refuse(403, "an action must come from the console's own page (Origin)");
    const id = bulk === null ? scheduleId(route[1]!) : 0;
    const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") return refuse(415, "the body must be JSON (Content-Type: application/json)");
    const body = await readJson(request);
    if (bulk !== null) return runBulkAction(context, bulk, body, remote);
    return runAction(context, action, id, body, remote);
  };

  return (request, remote) => {
    const url = new URL(request.url);
    if (url.pathname !== PREFIX && !url.pathname.startsWith(`${PREFIX}/`)) return null;
    return handle(request, url, remote).catch((error: unknown) => {
      if (error instanceof BadRequest) return refuse(error.status, error.message);
      // A database that cannot be reached is the one expected failure of a read.
      return refuse(503, context.explain("PostgreSQL", error));
    });
  };
}

async function readJson(request: Request): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new BadRequest(`the body is larger than ${MAX_BODY_BYTES} bytes`, 413);
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES)
    throw new BadRequest(`the body is larger than ${MAX_BODY_BYTES} bytes`, 413);
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest("the body is not valid JSON");
  }
}
