/**
 * The console's door: every request under /console passes the server's body maximum and the Host
 * check, every API request the address's limit and the token (unless read-only), every action
 * the mode, Origin, Content-Type and body checks. Then the page, its assets, the read API, the event stream or an action. Every
 * refusal is a 4xx JSON with a reason and the security headers, and every refused action writes
 * its audit line; a 5xx means a dependency is down (503) or the console itself failed (500).
 */
import { type Peer, pathOf } from "../observe/http.ts";
import { ACTIONS, type Action, auditAction, runAction } from "./actions.ts";
import { createReads, sessionInfo } from "./api.ts";
import { consoleAssets } from "./assets.ts";
import { bearerToken, hostAllowed, sameOrigin, tokenMatches } from "./auth.ts";
import { readJsonBody } from "./body.ts";
import { BULK_ACTIONS, type BulkAction, runBulkAction } from "./bulk-actions.ts";
import type { ConsoleContext } from "./context.ts";
import { dependencyDown } from "./fault.ts";
import { activityPage, historyPage } from "./history-api.ts";
import { scheduleId } from "./input.ts";
import { pageHtml } from "./page.ts";
import type { Refusals } from "./refusals.ts";
import { asset, BadRequest, json, refuse, SECURITY_HEADERS } from "./respond.ts";
import { eventStream } from "./sse.ts";

export const PREFIX = "/console";
/** Live streams open at once; each is a few timers, but a loop of reconnects must stay bounded. */
const MAX_STREAMS = 32;

export type ConsoleHandler = (request: Request, peer: Peer) => Promise<Response> | null;

/** An action request's target, known from its path before anything is checked, for its audit line. */
interface ActionTarget {
  readonly action: Action;
  readonly idText: string;
  /** `POST /console/api/bulk/<action>`: the schedules selected on the list (docs/design.md §25). */
  readonly bulk?: true;
}

function actionTarget(method: string, route: readonly string[]): ActionTarget | null {
  if (method !== "POST") return null;
  if (route.length === 2 && route[0] === "bulk" && BULK_ACTIONS.includes(route[1] as BulkAction))
    return { action: route[1] as BulkAction, idText: "selected", bulk: true };
  const action = route[2] as Action;
  if (route.length !== 3 || route[0] !== "schedules" || !ACTIONS.includes(action)) return null;
  return { action, idText: route[1]! };
}

export function createConsoleHandler(context: ConsoleContext, refusals: Refusals): ConsoleHandler {
  const reads = createReads(context);
  let streams = 0;

  const handle = async (request: Request, path: string, peer: Peer): Promise<Response> => {
    const method = request.method;
    const api = path.startsWith(`${PREFIX}/api/`);
    const route = api ? path.slice(`${PREFIX}/api/`.length).split("/") : [];
    const target = api ? actionTarget(method, route) : null;
    /** A refusal; an action's also writes its audit line. */
    const deny = (status: number, reason: string, extra: Record<string, string> = {}): Response => {
      if (target) auditAction(context, target.action, target.idText, peer.remote, `refused (${status}): ${reason}`);
      return refuse(status, reason, extra);
    };
    // The server's own refusal (a body over its maximum) comes before anything else is looked at.
    if (peer.tooLarge !== null) return deny(413, peer.tooLarge);
    const host = request.headers.get("host");
    if (host === null) return refuse(400, "a Host header is needed: send the request as HTTP/1.1");
    if (!hostAllowed(host, context.bound(), context.config.hosts))
      return refuse(421, "this Host is not one the console answers to: add it to SCHEDULER_CONSOLE_HOSTS");
    // The Host is one of ours, so the URL Bun built from it parses.
    const url = new URL(request.url);
    const reading = method === "GET" || method === "HEAD";

    if (!api) {
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
      const waitMs = refusals.blockedFor(peer.remote);
      if (waitMs > 0) {
        refusals.refused(peer.remote, path, "limited");
        const seconds = Math.ceil(waitMs / 1000);
        return deny(429, `too many refused console tokens from this address: try again in ${seconds} s`, {
          "retry-after": String(seconds),
        });
      }
      const given = bearerToken(request.headers.get("authorization"));
      if (given === null || !tokenMatches(given, context.config.token ?? "")) {
        refusals.refused(peer.remote, path, given === null ? "missing" : "wrong");
        return deny(401, "a valid console token is needed (Authorization: Bearer)", {
          "www-authenticate": 'Bearer realm="rune-scheduler console"',
        });
      }
      refusals.accepted(peer.remote);
    }
    if (reading) {
      if (url.search !== "" && route[0] !== "schedules" && route[0] !== "activity")
        throw new BadRequest("this endpoint takes no parameters");
      if (route.length === 1 && route[0] === "session") return json(sessionInfo(context));
      if (route.length === 1 && route[0] === "overview") return reads.overview();
      if (route.length === 2 && route[0] === "overview" && route[1] === "counts") return reads.counts();
      if (route.length === 1 && route[0] === "schedules") return reads.list(url.searchParams);
      if (route.length === 2 && route[0] === "schedules") return reads.detail(route[1]!);
      if (route.length === 3 && route[0] === "schedules" && route[2] === "history")
        return historyPage(context, scheduleId(route[1]!), url.searchParams);
      if (route.length === 1 && route[0] === "activity") return activityPage(context, url.searchParams);
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
        // The stream is quiet between heartbeats: the server's idle timeout must not end it.
        peer.keepOpen();
        return eventStream(context.feed, request.signal, SECURITY_HEADERS, () => peer.letClose());
      }
      return refuse(404, "not found");
    }
    if (method !== "POST") return refuse(405, "method not allowed", { allow: "GET, HEAD, POST" });
    if (!target) return refuse(404, "not found");
    if (context.config.mode !== "token") return deny(403, "this console is read-only: actions are off");
    if (!sameOrigin(request.headers.get("origin"), host, request.headers.get("sec-fetch-site")))
      return deny(403, "an action must come from the console's own page (Origin)");
    let id: number;
    let body: unknown;
    try {
      id = target.bulk ? 0 : scheduleId(target.idText);
      const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== "application/json")
        throw new BadRequest("the body must be JSON (Content-Type: application/json)", 415);
      body = await readJsonBody(request);
    } catch (error) {
      if (error instanceof BadRequest) return deny(error.status, error.message);
      throw error;
    }
    if (target.bulk) return runBulkAction(context, target.action as BulkAction, body, peer.remote);
    return runAction(context, target.action, id, body, peer.remote);
  };

  return (request, peer) => {
    const path = pathOf(request.url);
    if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) return null;
    return handle(request, path, peer).catch((error: unknown) => {
      if (error instanceof BadRequest) return refuse(error.status, error.message);
      if (dependencyDown(error)) return refuse(503, context.explain("PostgreSQL", error));
      context.log.error(`Console request ${request.method} ${path.slice(0, 120)} failed: ${String(error)}`, {
        path: path.slice(0, 120),
      });
      return refuse(500, "the console failed on this request; the scheduler's log says why");
    });
  };
}
