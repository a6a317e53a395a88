/**
 * The operator console's HTTP side on the compiled binary: it is off by default, serves its
 * baked-in page and assets with the security headers, refuses a missing or wrong token, a foreign
 * Host or Origin, non-JSON bodies and bad input with a 4xx JSON reason, and its actions run the
 * operator verbs with an audit line and no secret in the log.
 */
import { describe, expect, test } from "bun:test";
import { CSP } from "../../src/console/respond.ts";
import { startWithConsole } from "../support/console.ts";
import { freePort } from "../support/ports.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();
const TOKEN = "e2e-console-token-0123456789";

async function started(extra: Record<string, string> = {}) {
  const { db, queue, scheduler, base } = await startWithConsole(scope, TOKEN, extra);
  const call = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token !== null) headers.set("authorization", `Bearer ${init.token ?? TOKEN}`);
    return fetch(`${base}${path}`, { ...init, headers });
  };
  const act = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    call(`/console/api/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base, ...headers },
      body: JSON.stringify(body),
    });
  return { db, queue, scheduler, base, call, act };
}

describe("console over HTTP", () => {
  test("off by default: /console is not there, the probes are", async () => {
    const { db, queue } = await scope.setup();
    const port = await freePort();
    const scheduler = scope.start({ ...db.env, ...queue.env, SCHEDULER_HTTP_PORT: String(port) });
    await scheduler.waitForLine(/HTTP health/);
    expect((await fetch(`http://127.0.0.1:${port}/console/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/console/api/overview`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  test("the binary serves the page and its assets with the security headers", async () => {
    const { call } = await started();
    for (const [path, type] of [
      ["/console/", "text/html"],
      ["/console/app.js", "text/javascript"],
      ["/console/app.css", "text/css"],
      ["/console/icon.svg", "image/svg+xml"],
    ] as const) {
      const response = await call(path, { token: null });
      expect([path, response.status]).toEqual([path, 200]);
      expect(response.headers.get("content-type")).toStartWith(type);
      expect(response.headers.get("content-security-policy")).toBe(CSP);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      const body = await response.text();
      expect(body.length).toBeGreaterThan(100);
      if (path === "/console/") expect(body).not.toMatch(/<script>|<style|style=/);
    }
    expect(await (await call("/console/app.js", { token: null })).text()).toContain("rune-console-token");
  });

  test("a missing or wrong token is refused; the probes stay open", async () => {
    const { call, scheduler } = await started();
    for (const token of [null, "wrong-token-0123456789", `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const response = await call("/console/api/overview", { token });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
      expect(await response.json()).toMatchObject({ ok: false, error: expect.stringContaining("token") });
    }
    expect((await call("/console/api/session")).status).toBe(200);
    expect((await call("/healthz", { token: null })).status).toBe(200);
    expect((await call("/metrics", { token: null })).status).toBe(200);
    expect(scheduler.output()).not.toContain(TOKEN);
  });

  test("a foreign Host is refused (DNS rebinding) unless listed", async () => {
    const { base, call } = await started({ SCHEDULER_CONSOLE_HOSTS: "scheduler.test" });
    const port = new URL(base).port;
    const as = (host: string) => call("/console/api/session", { headers: { host } });
    expect((await as(`evil.example:${port}`)).status).toBe(421);
    expect((await as(`localhost:${port}`)).status).toBe(200);
    expect((await as(`scheduler.test:${port}`)).status).toBe(200);
    expect((await call("/console/", { token: null, headers: { host: "evil.example" } })).status).toBe(421);
  });

  test("bad input is a 4xx JSON reason, never a 500", async () => {
    const { call, act, base } = await started();
    const cases: [Promise<Response>, number][] = [
      [call("/console/api/schedules?state=nope"), 400],
      [call("/console/api/schedules?limit=100000"), 400],
      [call("/console/api/schedules?after=%27%3B%20DROP"), 400],
      [call("/console/api/schedules?after=WyJ4IiwxXQ"), 400],
      [call("/console/api/schedules/abc"), 400],
      [call("/console/api/schedules/99999999999"), 400],
      [call("/console/api/schedules/123456"), 404],
      [call("/console/api/nothing"), 404],
      [call("/console/api/overview?x=1"), 400],
      [act("schedules/1/explode", {}), 404],
      [act("schedules/abc/pause", {}), 400],
      [act("schedules/123456/pause", {}), 404],
      [act("schedules/1/pause", { reason: 5 }), 400],
      [act("schedules/1/pause", { other: 1 }), 400],
      [act("schedules/1/pause", [1]), 400],
      [act("schedules/1/backfill", { from: "yesterday", to: "now" }), 400],
      [act("schedules/1/backfill", { from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z" }), 400],
      [act("schedules/1/pause", {}, { origin: "http://evil.example" }), 403],
      [act("schedules/1/pause", {}, { "content-type": "text/plain" }), 415],
      [
        call("/console/api/schedules/1/pause", {
          method: "POST",
          headers: { "content-type": "application/json", origin: base },
          body: "{nope",
        }),
        400,
      ],
      [
        call("/console/api/schedules/1/pause", {
          method: "POST",
          headers: { "content-type": "application/json", origin: base },
          body: "x".repeat(20_000),
        }),
        413,
      ],
      [call("/console/api/schedules/1/pause", { method: "PUT" }), 405],
    ];
    for (const [pending, status] of cases) {
      const response = await pending;
      const body = await response.json();
      expect([response.url, response.status]).toEqual([response.url, status]);
      expect(body.ok).toBe(false);
      expect(typeof body.error).toBe("string");
      expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+|stack/i);
    }
  });

  test("actions run the operator verbs, answer their outcome and write an audit line", async () => {
    const { db, queue, act, call, scheduler } = await started();
    const [id] = await insertSchedules(db.sql, [
      { dueInMs: 3_600_000, intervalSeconds: 3600, name: "console-wf", data: { secret: "s3cr3t-data" } },
    ]);
    const paused = await act(`schedules/${id}/pause`, { reason: "maintenance window" });
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({
      ok: true,
      wasActive: true,
      lastError: "paused by operator: maintenance window",
    });
    const [row] = await db.sql<
      { is_active: boolean; last_error: string }[]
    >`SELECT is_active, last_error FROM scheduled_workflows WHERE id = ${id!}`;
    expect(row).toEqual({ is_active: false, last_error: "paused by operator: maintenance window" });
    const refused = await act(`schedules/${id}/trigger`, {});
    expect(refused.status).toBe(409);
    expect((await refused.json()).failure).toBe("inactive");
    expect((await act(`schedules/${id}/resume`, {})).status).toBe(200);
    const triggered = await act(`schedules/${id}/trigger`, {});
    const outcome = await triggered.json();
    expect([triggered.status, outcome.ok]).toEqual([200, true]);
    const message = await waitFor("the triggered message", () => queue.messages[0]);
    expect(message.raw.properties.messageId).toBe(outcome.messageId);
    await Bun.sleep(300);
    expect(queue.messages).toHaveLength(1);
    const preview = await (
      await act(`schedules/${id}/backfill`, { from: "2020-01-01T00:00:00Z", to: "2020-01-01T03:00:00Z" })
    ).json();
    expect(preview).toMatchObject({ ok: true, published: false });
    await Bun.sleep(200);
    expect(queue.messages).toHaveLength(1);
    const detail = await (await call(`/console/api/schedules/${id}`)).json();
    expect(detail.schedule.dataBytes).toBeGreaterThan(0);
    expect(JSON.stringify(detail)).not.toContain("s3cr3t-data");
    await waitFor("the audit lines", () =>
      scheduler.output().includes(`CONSOLE ACTION trigger schedule=${id} from=127.0.0.1: ok triggered`),
    );
    expect(scheduler.output()).toContain(`CONSOLE ACTION pause schedule=${id} from=127.0.0.1: ok paused`);
    expect(scheduler.output()).toContain(`CONSOLE ACTION trigger schedule=${id} from=127.0.0.1: failed (inactive)`);
    expect(scheduler.output()).not.toContain(TOKEN);
  });

  test("the overview answers without the table-wide counts; the counts come next, from the same rule", async () => {
    const { db, call } = await started();
    const ids = await insertSchedules(
      db.sql,
      Array.from({ length: 12 }, (_, i) => ({ dueInMs: 3_600_000 + i * 60_000, intervalSeconds: 3600 })),
    );
    // Cron rows the parser refuses are no one's next slot, due or not.
    await db.sql`INSERT INTO scheduled_workflows (workflow_id, next_run_at, cron_expression)
      SELECT workflow_id, now() AT TIME ZONE 'UTC' + d, '61 * * * *'
        FROM scheduled_workflows, unnest(ARRAY[interval '-1 hour', interval '30 minutes']) d WHERE id = ${ids[0]!}`;
    const first = await (await call("/console/api/overview")).json();
    const counts = await (await call("/console/api/overview/counts")).json();
    expect(first.schedules).not.toHaveProperty("total");
    expect(first.schedules.oldestDue).toBeNull();
    expect(first.schedules.upcoming.map((row: { id: number }) => row.id)).toEqual(ids.slice(0, 10));
    expect(counts.schedules).toMatchObject({ total: 14, invalid: 2, dueNow: 0, oldestDue: null });
    expect(counts.schedules.upcoming).toEqual(first.schedules.upcoming);
    expect((await call("/console/api/overview/counts?x=1")).status).toBe(400);
  });

  test("read-only: views without a token, no actions", async () => {
    const { db, act, call } = await started({ SCHEDULER_CONSOLE: "read-only", SCHEDULER_CONSOLE_TOKEN: "" });
    const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 3600 }]);
    expect((await call("/console/api/overview", { token: null })).status).toBe(200);
    expect(await (await call("/console/api/session", { token: null })).json()).toMatchObject({
      mode: "read-only",
      actions: false,
    });
    const refused = await act(`schedules/${id}/pause`, {});
    expect(refused.status).toBe(403);
    const [row] = await db.sql<{ is_active: boolean }[]>`SELECT is_active FROM scheduled_workflows WHERE id = ${id!}`;
    expect(row!.is_active).toBe(true);
  });

  test("the event stream says when a schedule fires, and a closed stream is let go", async () => {
    const { db, call } = await started({ SCHEDULER_POLL_INTERVAL: "0.2" });
    const controller = new AbortController();
    const response = await call("/console/api/events", { signal: controller.signal });
    expect(response.headers.get("content-type")).toStartWith("text/event-stream");
    const [id] = await insertSchedules(db.sql, [{ dueInMs: 0, intervalSeconds: 3600 }]);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    await waitFor("a changed event naming the schedule", async () => {
      text += (await reader.read()).value ?? "";
      return text.includes(`"ids":[${id}]`) || new RegExp(`"ids":\\[[^\\]]*\\b${id}\\b`).test(text);
    });
    controller.abort();
    // A HEAD of the stream is refused: it would hold a stream slot that nothing gives back.
    for (let i = 0; i < 40; i++) expect((await call("/console/api/events", { method: "HEAD" })).status).toBe(405);
    const again = new AbortController();
    expect((await call("/console/api/events", { signal: again.signal })).status).toBe(200);
    again.abort();
    const detail = await (await call(`/console/api/schedules/${id}`)).json();
    expect(detail.seen[0]).toMatchObject({ messageId: expect.stringMatching(new RegExp(`^${id}:`)) });
  });
});
