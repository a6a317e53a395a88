/// <reference lib="dom" />
/**
 * Select, then act: the schedules ticked on the list, paused, resumed or triggered together. The
 * first click asks the server for the preview (what will be touched, as `pause --workflow` lists
 * it); only the confirm button acts, on all of them in one transaction.
 */
import type { BulkResult } from "../contract.ts";
import { post } from "./api.ts";
import { h, replace } from "./dom.ts";

type BulkAnswer = Partial<BulkResult> & { ok: boolean; error?: string };

const ACTIONS = ["pause", "resume", "trigger"] as const;

/** The bar under the list: the count selected, the actions, and the preview or the outcome. */
export function bulkBar(selected: Set<number>, done: () => void): { root: HTMLElement; update: () => void } {
  const count = h("span", { class: "muted", role: "status", "aria-live": "polite" });
  const reason = h("input", { type: "text", name: "bulk-reason", placeholder: "reason (pause)", maxlength: "500" });
  const panel = h("div", { class: "bulk-panel" });
  const buttons = ACTIONS.map((action) =>
    h("button", { type: "button", class: "secondary", on: { click: () => void preview(action) } }, action),
  );
  const body = (action: string, confirm: boolean) => ({
    ids: [...selected],
    ...(action === "pause" && reason.value.trim() !== "" ? { reason: reason.value.trim() } : {}),
    ...(confirm ? { confirm: true } : {}),
  });

  async function preview(action: (typeof ACTIONS)[number]): Promise<void> {
    if (selected.size === 0) return;
    const answer = await post<BulkAnswer>(`bulk/${action}`, body(action, false)).catch(
      (error: Error): BulkAnswer => ({ ok: false, error: error.message }),
    );
    if (!answer.ok || !answer.targets)
      return void replace(panel, h("p", { class: "error-text" }, answer.error ?? "refused"));
    replace(
      panel,
      h("p", {}, `${action} ${answer.targets.length} schedule(s):`),
      h(
        "ul",
        { class: "slots" },
        answer.targets.map((t) =>
          h(
            "li",
            {},
            h("code", {}, String(t.id)),
            ` ${t.workflowName ?? `(missing workflow ${t.workflowId ?? "NULL"})`} · ${t.isActive ? "active" : "inactive"} · `,
            h("code", {}, t.schedule),
            ` · next ${t.nextRunAt ?? "NULL"}`,
          ),
        ),
      ),
      h(
        "button",
        { type: "button", on: { click: () => void act(action) } },
        `Confirm: ${action} ${answer.targets.length} schedule(s)`,
      ),
      h("button", { type: "button", class: "secondary", on: { click: () => replace(panel) } }, "Cancel"),
    );
  }

  async function act(action: (typeof ACTIONS)[number]): Promise<void> {
    const answer = await post<BulkAnswer>(`bulk/${action}`, body(action, true)).catch(
      (error: Error): BulkAnswer => ({ ok: false, error: error.message }),
    );
    if (!answer.ok) return void replace(panel, h("p", { class: "error-text" }, answer.error ?? "refused"));
    replace(
      panel,
      h(
        "ul",
        { class: "slots" },
        (answer.results ?? []).map((r) => h("li", {}, r.text)),
      ),
    );
    selected.clear();
    update();
    done();
  }

  function update(): void {
    count.textContent = `${selected.size} selected`;
    for (const button of buttons) button.disabled = selected.size === 0;
  }
  update();
  return { root: h("div", { class: "bulk" }, count, ...buttons, reason, panel), update };
}
