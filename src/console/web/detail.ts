/// <reference lib="dom" />
/** One schedule: its facts, next ten slots with DST marks, this replica's fires of it, and the actions. */

import { type ActionResult, type Detail, NAME_SHOWN } from "../contract.ts";
import { ApiError, get, post } from "./api.ts";
import { h, replace, stored } from "./dom.ts";
import { bytes, count, lag, relative, utc } from "./format.ts";
import { fireHistory } from "./history.ts";
import type { View } from "./overview.ts";
import { stateBadge } from "./schedules.ts";

/** The schedule's page shows this much of a last error. */
const ERROR_SHOWN = 2_000;

const DST_TEXT = {
  gap: "clocks jump forward: a time in the skipped hour fires here",
  overlap: "this wall time happens twice: fires at the first",
} as const;

function facts(d: Detail): HTMLElement {
  const r = d.schedule;
  const item = (label: string, ...value: (Node | string | false)[]) => [h("dt", {}, label), h("dd", {}, ...value)];
  return h(
    "dl",
    { class: "facts" },
    item("Kind", h("code", {}, r.kind)),
    item("Zone", r.zone),
    // A paused row's next_run_at is where it would go on from, not a time it will run.
    r.isActive
      ? item("Next run", utc(r.nextRunMs), h("span", { class: "muted" }, ` ${relative(r.nextRunMs, d.dbNowMs)}`))
      : item(
          "Next run",
          h("strong", {}, "none: paused"),
          h("span", { class: "muted" }, ` (next_run_at ${utc(r.nextRunMs)}, kept for a resume)`),
        ),
    item("Last run", utc(r.lastRunMs), h("span", { class: "muted" }, ` ${relative(r.lastRunMs, d.dbNowMs)}`)),
    item("Runs", count(r.runCount)),
    item("Failures in a row", count(r.failureCount)),
    item(
      "Last error",
      r.lastError ? stored(r.lastError, ERROR_SHOWN, "error-text") : h("span", { class: "muted" }, "none"),
    ),
    item(
      "Workflow",
      r.workflowName !== null ? stored(r.workflowName, NAME_SHOWN) : "missing",
      h("span", { class: "muted" }, ` (id ${r.workflowId})`),
      r.workflowName !== null &&
        [...r.workflowName].length > NAME_SHOWN &&
        h("span", { class: "muted" }, ` (name cut: ${count([...r.workflowName].length)} characters)`),
    ),
    item("Workflow data", `${bytes(r.dataBytes)} (not shown)`),
    item("Updated", utc(r.updatedMs)),
  );
}

function slotsTable(d: Detail): HTMLElement {
  if (!d.schedule.isActive)
    return h("p", { class: "muted" }, "Paused: no slot fires until it is resumed (Resume goes on from next_run_at).");
  if (d.nextSlots.length === 0) return h("p", { class: "muted" }, d.schedule.invalidReason ?? "No slot ahead.");
  const jittered = d.nextSlots.some((slot) => slot.dueMs !== undefined);
  const heads = [
    `Wall time (${d.schedule.zone})`,
    "Offset",
    "UTC",
    ...(jittered ? ["Fires at (jitter)"] : []),
    "Daylight saving",
  ];
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          heads.map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        {},
        d.nextSlots.map((slot) =>
          h(
            "tr",
            { class: slot.dst ? "dst" : "" },
            h(
              "td",
              {},
              slot.wall,
              slot.last ? " " : "",
              slot.last ? h("span", { class: "badge state-ended" }, "end") : "",
            ),
            h("td", {}, slot.offset),
            h("td", {}, utc(slot.ms)),
            ...(jittered ? [h("td", {}, slot.dueMs === undefined ? "" : utc(slot.dueMs))] : []),
            h(
              "td",
              {},
              slot.dst ? h("span", { class: "badge warn" }, slot.dst) : "",
              slot.dst ? ` ${DST_TEXT[slot.dst]}` : "",
            ),
          ),
        ),
      ),
    ),
  );
}

function seenTable(d: Detail): HTMLElement {
  if (d.seen.length === 0) return h("p", { class: "muted" }, "This replica has not fired it since it started.");
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Slot", "Lag", "Message id"].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        {},
        d.seen.map((fire) =>
          h(
            "tr",
            {},
            h("td", {}, utc(fire.slotMs)),
            h("td", { class: "num" }, lag(fire.lagMs)),
            h("td", {}, h("code", {}, fire.messageId)),
          ),
        ),
      ),
    ),
  );
}

function actions(d: Detail, allowed: boolean, reload: () => Promise<void>, result: HTMLElement): HTMLElement {
  const id = d.schedule.id;
  const panel = h("div", { class: "confirm" });
  if (!allowed) return h("p", { class: "muted" }, "This console is read-only: actions are off.");

  const show = (ok: boolean, text: string) => {
    replace(result, h("p", { class: ok ? "outcome ok" : "outcome bad" }, text));
  };
  const run = async (path: string, body: unknown): Promise<ActionResult | null> => {
    try {
      const answer = await post<ActionResult>(`schedules/${id}/${path}`, body);
      show(true, answer.text);
      return answer;
    } catch (error) {
      show(false, error instanceof ApiError ? error.message : String(error));
      return null;
    }
  };
  const after = async (answer: ActionResult | null) => {
    if (answer) await reload();
  };

  const askTrigger = () => {
    replace(
      panel,
      h("p", {}, `Publish one message for schedule ${id} now? It is recorded as a run; next_run_at stays.`),
      h(
        "button",
        {
          type: "button",
          id: "confirm-trigger",
          on: {
            click: async () => {
              replace(panel);
              await after(await run("trigger", {}));
            },
          },
        },
        "Publish now",
      ),
      " ",
      h("button", { type: "button", class: "secondary", on: { click: () => replace(panel) } }, "Cancel"),
    );
    panel.querySelector("button")?.focus();
  };

  const reason = h("input", {
    type: "text",
    id: "pause-reason",
    maxlength: 500,
    placeholder: "why (kept in last_error)",
  });
  const pauseForm = h(
    "form",
    {
      class: "inline",
      on: {
        submit: async (event) => {
          event.preventDefault();
          await after(await run("pause", { reason: reason.value }));
        },
      },
    },
    h("label", { for: "pause-reason" }, "Reason"),
    reason,
    h("button", { type: "submit", id: "pause" }, "Pause"),
  );
  const resume = h(
    "button",
    { type: "button", id: "resume", on: { click: async () => after(await run("resume", {})) } },
    "Resume",
  );

  const hourAgo = new Date(Math.floor(d.dbNowMs / 60_000) * 60_000 - 3_600_000).toISOString().replace(".000", "");
  const nowIso = new Date(Math.floor(d.dbNowMs / 60_000) * 60_000).toISOString().replace(".000", "");
  const from = h("input", { type: "text", id: "backfill-from", value: hourAgo, size: 22, spellcheck: "false" });
  const to = h("input", { type: "text", id: "backfill-to", value: nowIso, size: 22, spellcheck: "false" });
  // Publish sends the window that was previewed, never what the fields say since; and a change
  // to either field takes the preview away, so what is on screen is what would be published.
  for (const field of [from, to]) field.addEventListener("input", () => replace(panel));
  const preview = async (event: Event) => {
    event.preventDefault();
    const window = { from: from.value.trim(), to: to.value.trim() };
    const answer = await run("backfill", { ...window, confirm: false });
    if (!answer?.slots) return replace(panel);
    replace(
      panel,
      answer.slots.length > 0 &&
        h(
          "ol",
          { class: "slots" },
          answer.slots
            .slice(0, 20)
            .map((slot) => h("li", {}, h("code", {}, slot.slot), " ", h("code", { class: "muted" }, slot.messageId))),
        ),
      answer.slots.length > 20 && h("p", { class: "muted" }, `and ${answer.slots.length - 20} more`),
      answer.slots.length > 0 &&
        h(
          "button",
          {
            type: "button",
            id: "confirm-backfill",
            on: {
              click: async () => {
                replace(panel);
                await after(await run("backfill", { ...window, confirm: true }));
              },
            },
          },
          `Publish ${answer.slots.length} message(s)`,
        ),
      " ",
      h("button", { type: "button", class: "secondary", on: { click: () => replace(panel) } }, "Cancel"),
    );
  };
  const backfill = h(
    "form",
    { class: "inline", on: { submit: preview } },
    h("label", { for: "backfill-from" }, "From"),
    from,
    h("label", { for: "backfill-to" }, "To"),
    to,
    h("button", { type: "submit", id: "backfill-preview", class: "secondary" }, "Preview backfill"),
  );

  return h(
    "div",
    { class: "actions" },
    h(
      "div",
      { class: "action-row" },
      h("button", { type: "button", id: "trigger", on: { click: askTrigger } }, "Trigger now…"),
      d.schedule.isActive ? pauseForm : resume,
    ),
    h("div", { class: "action-row" }, backfill),
    panel,
  );
}

export function detailView(id: string, actionsAllowed: boolean): View {
  const root = h(
    "div",
    { class: "view" },
    h("p", { class: "crumbs" }, h("a", { href: "#/schedules" }, "← Schedules")),
    h("p", { class: "muted" }, "Loading…"),
  );
  let last: Detail | null = null;
  // Outside the action panel, so an outcome stays shown when the panel is redrawn.
  const result = h("div", { class: "result", role: "status", "aria-live": "polite" });
  // Kept across refreshes, so a page the operator went back to stays.
  const history = fireHistory(id);
  const refresh = async () => {
    const d = await get<Detail>(`schedules/${encodeURIComponent(id)}`);
    void history.reload().catch(() => {});
    // Keep what the operator is typing or reading in the action panel: redraw it only when the row's state changed.
    const keepActions =
      last !== null && last.schedule.isActive === d.schedule.isActive && root.querySelector(".actions") !== null;
    const actionsNode = keepActions ? root.querySelector(".actions")! : actions(d, actionsAllowed, refresh, result);
    last = d;
    replace(
      root,
      h("p", { class: "crumbs" }, h("a", { href: "#/schedules" }, "← Schedules")),
      h("h1", {}, `Schedule ${d.schedule.id} `, stateBadge(d.schedule)),
      h(
        "p",
        { class: "subtitle name" },
        d.schedule.workflowName !== null ? stored(d.schedule.workflowName, NAME_SHOWN) : "workflow missing",
      ),
      h(
        "div",
        { class: "grid2" },
        h("section", { class: "card", "aria-labelledby": "facts-h" }, h("h2", { id: "facts-h" }, "Details"), facts(d)),
        h(
          "section",
          { class: "card", "aria-labelledby": "actions-h" },
          h("h2", { id: "actions-h" }, "Actions"),
          actionsNode,
          result,
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "slots-h" },
        h("h2", { id: "slots-h" }, "Next ten slots"),
        slotsTable(d),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "seen-h" },
        h("h2", { id: "seen-h" }, "Fires this replica has seen"),
        seenTable(d),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "history-h" },
        h("h2", { id: "history-h" }, "History (every replica)"),
        history.root,
      ),
    );
  };
  return {
    root,
    refresh,
    changed: (ids) => {
      if (ids === null || ids.includes(Number(id))) void refresh().catch(() => {});
    },
  };
}
