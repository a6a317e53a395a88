/// <reference lib="dom" />
/**
 * The console page: asks for the token once per tab, then routes between the overview, the
 * schedule list and a schedule's detail (by the URL's hash), and keeps the view live by the
 * event stream, falling back to polling while the stream is down.
 */

import type { Overview, Session } from "../contract.ts";
import { ApiError, get, stream, token } from "./api.ts";
import { detailView } from "./detail.ts";
import { h, replace } from "./dom.ts";
import { activityView } from "./history.ts";
import { overviewView, type View } from "./overview.ts";
import { schedulesView } from "./schedules.ts";

const POLL_MS = 10_000;
const RETRY_STREAM_MS = 30_000;
const REFRESH_COALESCE_MS = 1_000;

const app = document.getElementById("app")!;
const main = h("main", { id: "main", tabindex: "-1" });
const liveBadge = h("span", { class: "live off", role: "status" }, "connecting");
/** Why the view could not load, above it: the view's own controls stay on screen to try again. */
const problem = h("div", { class: "problem" });
let session: Session | null = null;
let view: View | null = null;
let started = false;

function header(): HTMLElement {
  const link = (href: string, text: string) => h("a", { href, class: "nav-link" }, text);
  return h(
    "header",
    { class: "top" },
    h(
      "a",
      {
        class: "skip",
        href: "#main",
        on: {
          click: (e) => {
            e.preventDefault();
            main.focus();
          },
        },
      },
      "Skip to content",
    ),
    h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "rune-scheduler"),
    h(
      "nav",
      { "aria-label": "Console" },
      link("#/", "Overview"),
      link("#/schedules", "Schedules"),
      link("#/activity", "Activity"),
    ),
    h(
      "div",
      { class: "right" },
      session?.mode === "read-only" && h("span", { class: "badge" }, "read-only"),
      liveBadge,
      session?.mode === "token" &&
        h("button", { type: "button", class: "secondary small", on: { click: signOut } }, "Forget token"),
    ),
  );
}

function signOut(): void {
  token.clear();
  location.reload();
}

function askToken(message: string): void {
  const input = h("input", { type: "password", id: "token", autocomplete: "current-password", required: true });
  const form = h(
    "form",
    {
      class: "card login",
      on: {
        submit: (event) => {
          event.preventDefault();
          token.set(input.value.trim());
          void start();
        },
      },
    },
    h("h1", {}, "rune-scheduler console"),
    h("p", {}, "Paste the console token (SCHEDULER_CONSOLE_TOKEN). It is kept in this tab only."),
    message && h("p", { class: "outcome bad", role: "alert" }, message),
    h("label", { for: "token" }, "Console token"),
    input,
    h("button", { type: "submit" }, "Open the console"),
  );
  replace(app, h("main", { class: "center" }, form));
  input.focus();
}

function route(): void {
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const parts = (path ?? "/").split("/").filter(Boolean);
  if (parts[0] === "schedules" && parts[1]) view = detailView(parts[1], session?.actions === true);
  else if (parts[0] === "schedules") view = schedulesView(new URLSearchParams(query ?? ""));
  else if (parts[0] === "activity") view = activityView();
  else {
    view = overviewView(early);
    early = null;
  }
  for (const a of document.querySelectorAll<HTMLAnchorElement>("a.nav-link")) {
    const current = a.getAttribute("href") === `#/${parts[0] ?? ""}`;
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  replace(problem);
  replace(main, problem, view.root);
  const shown = view;
  void view.refresh().then(
    () => {
      if (view === shown) replace(problem);
    },
    (error: unknown) => {
      if (view === shown) failed(error);
    },
  );
}

function failed(error: unknown): void {
  if (error instanceof ApiError && error.status === 401) {
    askToken("That token was refused.");
    return;
  }
  replace(
    problem,
    h("p", { class: "outcome bad", role: "alert" }, error instanceof Error ? error.message : String(error)),
  );
}

/** Refreshes of the current view from the stream, at most one per second. */
const pendingIds = new Set<number>();
let everything = false;
let flushing = false;
function changed(ids: readonly number[] | null): void {
  if (ids === null) everything = true;
  else for (const id of ids) pendingIds.add(id);
  if (flushing) return;
  flushing = true;
  setTimeout(() => {
    flushing = false;
    const list = everything ? null : [...pendingIds];
    everything = false;
    pendingIds.clear();
    view?.changed(list);
  }, REFRESH_COALESCE_MS);
}

const controller = new AbortController();
addEventListener("pagehide", () => controller.abort());

async function live(): Promise<void> {
  while (!controller.signal.aborted) {
    let poller: ReturnType<typeof setInterval> | null = null;
    try {
      liveBadge.textContent = "live";
      liveBadge.className = "live on";
      await stream(controller.signal, (event, data) => {
        if (event !== "changed") return;
        const ids = (JSON.parse(data) as { ids: number[] | null }).ids;
        if (view && view === currentOverview()) changed(null);
        else changed(ids);
      });
    } catch {
      if (controller.signal.aborted) return;
    }
    liveBadge.textContent = "polling";
    liveBadge.className = "live off";
    poller = setInterval(() => changed(null), POLL_MS);
    await new Promise((resolve) => setTimeout(resolve, RETRY_STREAM_MS));
    clearInterval(poller);
  }
}

const onOverview = () => (location.hash.slice(1) || "/").split("?")[0] === "/";
const currentOverview = () => (onOverview() ? view : null);

/** The overview's first answer, asked for together with the session rather than after it. */
let early: Promise<Overview> | null = null;

async function start(): Promise<void> {
  if (document.documentElement.dataset.mode === "token" && !token.get()) {
    askToken("");
    return;
  }
  if (onOverview()) {
    early = get<Overview>("overview");
    // A refusal is the session's to report; this answer is then never used.
    early.catch(() => {});
  }
  try {
    session = await get<Session>("session");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401)
      return askToken(token.get() ? "That token was refused." : "");
    replace(
      app,
      h("main", { class: "center" }, h("p", { class: "outcome bad", role: "alert" }, String((error as Error).message))),
    );
    return;
  }
  replace(app, header(), main, h("footer", {}, `rune-scheduler ${session.version}`));
  if (!started) {
    started = true;
    addEventListener("hashchange", route);
    void live();
  }
  route();
}

void start();
