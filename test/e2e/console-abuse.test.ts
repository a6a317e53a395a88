/**
 * The operator console under abuse, on the compiled binary: a chunked body far over the limit is
 * cut off without the process growing; odd requests and bad input are 4xx with a reason and the
 * security headers; refused tokens are logged (folded), counted and limited per address without
 * locking out a right token from another; every refused action is audited; the live stream stays
 * up through a silence longer than 30 s; the filters list what the overview counts.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { MAX_FAILURES } from "../../src/console/refusals.ts";
import { CSP } from "../../src/console/respond.ts";
import { HEARTBEAT_MS } from "../../src/console/sse.ts";
import { MAX_REQUEST_BYTES } from "../../src/observe/http.ts";
import { startWithConsole } from "../support/console.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";
import { chunkedPost, rawRequest, streamedPost } from "../support/raw-http.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();
const TOKEN = "abuse-console-token-0123456789";

async function started(extra: Record<string, string> = {}) {
  const running = await startWithConsole(scope, TOKEN, extra);
  const port = Number(new URL(running.base).port);
  const call = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token !== null) headers.set("authorization", `Bearer ${init.token ?? TOKEN}`);
    return fetch(`${running.base}${path}`, { ...init, headers });
  };
  const act = (path: string, body: string, headers: Record<string, string> = {}, token: string | null = TOKEN) =>
    call(`/console/api/${path}`, {
      method: "POST",
      token,
      headers: { "content-type": "application/json", origin: running.base, ...headers },
      body,
    });
  return { ...running, port, call, act };
}

/** VmRSS and VmHWM (the peak) of a process, MiB. */
function memory(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  return { rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}

const lines = (output: string, pattern: RegExp) => output.split("\n").filter((line) => pattern.test(line));

describe("console under abuse", () => {
  test("a chunked body far over the limit is cut off: 413, audited, and the process's memory stays flat", async () => {
    const { scheduler, port, base, act } = await started();
    const headers = {
      host: `127.0.0.1:${port}`,
      authorization: `Bearer ${TOKEN}`,
      origin: base,
      "content-type": "application/json",
    };
    // Warm the path up first (the first action loads code and opens the console's pool).
    expect((await act("schedules/1/pause", "{}")).status).toBe(404);
    const before = memory(scheduler.proc.pid);
    const answers = await Promise.all(
      [0, 1, 2].map(() => chunkedPost(port, "/console/api/schedules/1/pause", headers, 50 * 1024 * 1024)),
    );
    const after = memory(scheduler.proc.pid);
    console.log(
      `three chunked 50 MiB bodies: RSS ${before.rssMiB.toFixed(1)} → ${after.rssMiB.toFixed(1)} MiB, peak ${before.peakMiB.toFixed(1)} → ${after.peakMiB.toFixed(1)} MiB; written before the answer: ${answers.map((a) => `${(a.writtenBytes / 1024).toFixed(0)} KiB`).join(", ")}`,
    );
    for (const answer of answers) {
      // Far less than the body was taken before the answer (the kernel's socket buffers hold a few MiB).
      expect(answer.writtenBytes).toBeLessThan(16 * 1024 * 1024);
      // The server answers 413 and closes with the rest unread; the close may reach this client
      // as a reset before it read the answer (status 0). The audit lines below show each refusal.
      expect([0, 413]).toContain(answer.status);
      if (answer.status === 413) {
        expect(answer.headers["content-security-policy"]).toBe(CSP);
        expect(JSON.parse(answer.body)).toMatchObject({ ok: false, error: expect.stringContaining("16384 bytes") });
      }
    }
    // Reading one body whole grew the process by ~90 MiB and three by ~210 MiB; cut off, no more than noise.
    expect(after.peakMiB - before.peakMiB).toBeLessThan(20);
    await waitFor("the audit lines", () =>
      lines(scheduler.output(), /CONSOLE ACTION pause schedule=1 from=127\.0\.0\.1: refused \(413\)/).length === 3
        ? true
        : null,
    );
  }, 60_000);

  test("a declared body over the server's maximum is refused by our handler: 413 with a reason and the security headers, audited, nothing read", async () => {
    const { scheduler, port, base, act } = await started();
    const headers = {
      host: `127.0.0.1:${port}`,
      authorization: `Bearer ${TOKEN}`,
      origin: base,
      "content-type": "application/json",
    };
    const audited = () =>
      lines(scheduler.output(), /CONSOLE ACTION pause schedule=1 from=127\.0\.0\.1: refused \(413\)/).length;
    expect((await act("schedules/1/pause", "{}")).status).toBe(404);
    const before = memory(scheduler.proc.pid);
    const figures: string[] = [];
    for (const mib of [50, 150]) {
      const answer = await streamedPost(port, "/console/api/schedules/1/pause", headers, mib * 1024 * 1024, "length");
      const now = memory(scheduler.proc.pid);
      figures.push(
        `${mib} MiB declared: ${answer.status}, ${(answer.writtenBytes / 1024).toFixed(0)} KiB written, RSS ${now.rssMiB.toFixed(1)} MiB, peak ${now.peakMiB.toFixed(1)} MiB`,
      );
      expect(answer.writtenBytes).toBeLessThan(16 * 1024 * 1024);
      // As for a chunked body, the close after the answer may reach this client as a reset first.
      expect([0, 413]).toContain(answer.status);
      if (answer.status === 413) expect(answer.headers["content-security-policy"]).toBe(CSP);
    }
    // Bun's own limit no longer cuts a chunked body off: one that no handler reads (the probes
    // read none) must cost nothing either.
    const unread = await streamedPost(port, "/healthz", { host: `127.0.0.1:${port}` }, 150 * 1024 * 1024, "chunked");
    const now = memory(scheduler.proc.pid);
    figures.push(
      `150 MiB chunked to a probe: ${unread.status}, ${(unread.writtenBytes / 1024).toFixed(0)} KiB written, RSS ${now.rssMiB.toFixed(1)} MiB, peak ${now.peakMiB.toFixed(1)} MiB`,
    );
    expect(unread.writtenBytes).toBeLessThan(16 * 1024 * 1024);
    expect([0, 405]).toContain(unread.status);
    console.log(
      `declared bodies: before RSS ${before.rssMiB.toFixed(1)} MiB, peak ${before.peakMiB.toFixed(1)} MiB; ${figures.join("; ")}`,
    );
    expect(memory(scheduler.proc.pid).peakMiB - before.peakMiB).toBeLessThan(20);
    await waitFor("both audit lines", () => (audited() === 2 ? true : null));

    // The answer itself, with only the head sent (nothing to reset): ours, not the server library's bare 413.
    const head = (method: string, path: string, length: number, extra = "") =>
      rawRequest(
        port,
        `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}Content-Length: ${length}\r\nConnection: close\r\n\r\n`,
      );
    const action = await head(
      "POST",
      "/console/api/schedules/1/pause",
      50 * 1024 * 1024,
      `Authorization: Bearer ${TOKEN}\r\nOrigin: ${base}\r\nContent-Type: application/json\r\n`,
    );
    expect([action.status, action.headers["content-security-policy"]]).toEqual([413, CSP]);
    expect(JSON.parse(action.body)).toEqual({
      ok: false,
      error: expect.stringContaining(`larger than ${MAX_REQUEST_BYTES} bytes`),
    });
    await waitFor("the third audit line", () => (audited() === 3 ? true : null));
    // A read of the API and the page are refused the same way (no audit line: no action).
    for (const path of ["/console/api/overview", "/console/"]) {
      const read = await head("GET", path, MAX_REQUEST_BYTES + 1, `Authorization: Bearer ${TOKEN}\r\n`);
      expect([path, read.status, read.headers["content-security-policy"]]).toEqual([path, 413, CSP]);
      expect(JSON.parse(read.body).error).toContain(`larger than ${MAX_REQUEST_BYTES} bytes`);
    }
    // The probes answer in their own form, uncacheable, with the reason; a length past 4 GiB, too
    // (older Bun refused lengths near 1 GB by itself whatever its limit was set to).
    const probe = await head("POST", "/healthz", 8 * 1024 ** 3);
    expect([probe.status, probe.headers["cache-control"]]).toEqual([413, "no-store"]);
    expect(probe.body).toContain(`larger than ${MAX_REQUEST_BYTES} bytes`);
    // Up to the maximum the probes still answer as before (a body is no reason to refuse a GET).
    expect((await head("GET", "/healthz", MAX_REQUEST_BYTES)).status).not.toBe(413);
    expect(audited()).toBe(3);
  }, 60_000);

  test("odd requests and bad input are 4xx with a reason and the security headers, never a 5xx", async () => {
    const { port, call, scheduler } = await started();
    const noHost = await rawRequest(port, "GET /console/api/session HTTP/1.0\r\n\r\n");
    expect([noHost.status, noHost.headers["content-security-policy"]]).toEqual([400, CSP]);
    expect(JSON.parse(noHost.body).error).toContain("Host");
    const oddHost = await rawRequest(
      port,
      `GET /console/api/session HTTP/1.1\r\nHost: 127.0.0.1:${port}.evil.com\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
    );
    expect([oddHost.status, oddHost.headers["content-security-policy"]]).toEqual([421, CSP]);
    expect(JSON.parse(oddHost.body).error).toContain("SCHEDULER_CONSOLE_HOSTS");
    // The probes answer an HTTP/1.0 request without a Host too.
    expect((await rawRequest(port, "GET /healthz HTTP/1.0\r\n\r\n")).status).toBe(200);
    for (const q of ["a%00b", "a%0Ab", "%7F"]) {
      const response = await call(`/console/api/schedules?q=${q}`);
      expect([q, response.status, response.headers.get("content-security-policy")]).toEqual([q, 400, CSP]);
      const body = await response.json();
      expect(body.error).toContain("q must be one line of text");
      expect(JSON.stringify(body)).not.toMatch(/PostgreSQL|postgres|user|database/i);
    }
    expect(scheduler.output()).not.toMatch(/Console request .* failed/);
  });

  test("refused tokens: one folded line each, a metric, 429 after repeated failures, never for a right token from another address; refused actions audited", async () => {
    const { port, call, act, scheduler } = await started();
    // Every refusal of an action writes its audit line, whatever refused it.
    expect((await act("schedules/7/pause", "{}", { origin: "http://evil.example" })).status).toBe(403);
    expect((await act("schedules/7/pause", "{}", { "content-type": "text/plain" })).status).toBe(415);
    expect((await act("schedules/7/pause", "{nope")).status).toBe(400);
    expect((await act("schedules/7/pause", "x".repeat(20_000))).status).toBe(413);
    expect((await act("schedules/x%0A1/pause", "{}")).status).toBe(400);
    // Last: a right token forgives an address its failures, and this one is the first to count.
    expect((await act("schedules/7/pause", "{}", {}, null)).status).toBe(401);
    // The line is written as the answer goes out: the last one may reach stdout after the answer.
    await waitFor("the audit line of the last refusal", () =>
      lines(scheduler.output(), /CONSOLE ACTION pause schedule=7 from=127\.0\.0\.1: refused \(401\)/).length > 0
        ? true
        : null,
    );
    for (const status of [401, 403, 415, 400, 413])
      expect(
        lines(
          scheduler.output(),
          new RegExp(`CONSOLE ACTION pause schedule=7 from=127\\.0\\.0\\.1: refused \\(${status}\\)`),
        ),
      ).toHaveLength(1);
    expect(
      lines(scheduler.output(), /CONSOLE ACTION pause schedule="x%0A1" from=127\.0\.0\.1: refused \(400\)/),
    ).toHaveLength(1);

    // 300 wrong tokens from 127.0.0.1 (the missing token above is its first failure).
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 300; i++) {
      const response = await call("/console/api/overview", { token: `wrong-token-${i}-0123456789` });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get("retry-after");
      await response.body?.cancel();
    }
    expect(statuses.slice(0, MAX_FAILURES - 1)).toEqual(Array(MAX_FAILURES - 1).fill(401));
    expect(statuses.slice(MAX_FAILURES - 1)).toEqual(Array(300 - MAX_FAILURES + 1).fill(429));
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    // The address is held up even with the right token (else a guess would be told right by its answer)…
    const held = await call("/console/api/session");
    expect(held.status).toBe(429);
    expect(await held.json()).toMatchObject({ ok: false, error: expect.stringContaining("try again in") });
    // …but the right token from another address is not.
    const other = await rawRequest(
      port,
      `GET /console/api/session HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
      { localAddress: "127.0.0.2" },
    );
    expect(other.status).toBe(200);
    // One line per kind of refusal, the repeats folded into it (the "N more" line comes when the fold ends).
    const output = scheduler.output();
    expect(
      lines(
        output,
        /CONSOLE REFUSED from=127\.0\.0\.1 path=\/console\/api\/overview: wrong console token \(401\)(?!;)/,
      ),
    ).toHaveLength(1);
    expect(
      lines(output, /CONSOLE REFUSED from=127\.0\.0\.1 path=\/console\/api\/overview: too many failed attempts/),
    ).toHaveLength(1);
    expect(lines(output, /CONSOLE REFUSED/).length).toBeLessThanOrEqual(4);
    expect(output).not.toContain("wrong-token-");
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(
      sampleValue(parseExposition(metrics), "rune_scheduler_console_auth_failures_total", { reason: "missing" }),
    ).toBe(1);
    expect(
      sampleValue(parseExposition(metrics), "rune_scheduler_console_auth_failures_total", { reason: "wrong" }),
    ).toBe(MAX_FAILURES - 1);
    expect(
      sampleValue(parseExposition(metrics), "rune_scheduler_console_auth_failures_total", { reason: "limited" }),
    ).toBe(300 - MAX_FAILURES + 2);
    // The folded repeats are written when the fold ends, at the latest when the scheduler stops.
    expect(await scheduler.stop("SIGTERM")).toBe(0);
    expect(lines(scheduler.output(), /wrong console token \(401\); 8 more time\(s\) in 10 s/)).toHaveLength(1);
    // The 429 on /session folds into the address's one "too many" line, whatever its path.
    expect(lines(scheduler.output(), /overview: too many failed attempts .*; 291 more time\(s\) in 10 s/)).toHaveLength(
      1,
    );
  }, 60_000);

  test("the live stream stays open through more than 30 s of silence", async () => {
    // The default poll interval (30 s) and no schedule: nothing to say for the whole test.
    const { call } = await started();
    const controller = new AbortController();
    const response = await call("/console/api/events", { signal: controller.signal });
    expect(response.status).toBe(200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const opened = performance.now();
    let heartbeats = 0;
    let endedAfterMs: number | null = null;
    // This test is about time passing: it reads for 35 s of real time.
    const deadline = opened + 35_000;
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) {
          endedAfterMs = performance.now() - opened;
          return;
        }
        heartbeats += (value ?? "").split(": keep-alive").length - 1;
      }
    })();
    await Bun.sleep(Math.max(0, deadline - performance.now()));
    const openFor = endedAfterMs ?? performance.now() - opened;
    console.log(
      `live stream in silence: open ${(openFor / 1000).toFixed(1)} s, ${heartbeats} heartbeat(s), ended: ${endedAfterMs !== null}`,
    );
    expect(endedAfterMs).toBeNull();
    expect(heartbeats).toBeGreaterThanOrEqual(Math.floor(35_000 / HEARTBEAT_MS) - 2);
    controller.abort();
    await reading;
  }, 60_000);

  test("the filters list what the overview counts; a paused schedule has no slots ahead", async () => {
    const { db, call } = await started();
    const [validA, validB, paused] = await insertSchedules(db.sql, [
      { dueInMs: 3_600_000, intervalSeconds: 3600 },
      { dueInMs: 7_200_000, intervalSeconds: 3600 },
      { dueInMs: 60_000, intervalSeconds: 5 },
    ]);
    await db.sql`UPDATE scheduled_workflows SET is_active = false, last_error = 'paused by operator: test' WHERE id = ${paused!}`;
    // Cron rows the parser refuses, an hour late: invalid, never overdue, never active.
    await db.sql`INSERT INTO scheduled_workflows (workflow_id, next_run_at, cron_expression)
      SELECT workflow_id, now() AT TIME ZONE 'UTC' - interval '1 hour', '61 * * * *'
        FROM scheduled_workflows, generate_series(1, 13) WHERE id = ${validA!}`;
    const counts = (await (await call("/console/api/overview/counts")).json()).schedules;
    const ids = async (state: string) =>
      ((await (await call(`/console/api/schedules?state=${state}&limit=200`)).json()).rows as { id: number }[]).map(
        (row) => row.id,
      );
    expect(counts).toMatchObject({ total: 16, active: 2, inactive: 1, invalid: 13, overdue: 0, failing: 0 });
    expect(await ids("active")).toEqual([validA!, validB!]);
    expect(await ids("overdue")).toEqual([]);
    expect(await ids("paused")).toEqual([paused!]);
    expect(await ids("invalid")).toHaveLength(counts.invalid);
    expect(await ids("failing")).toHaveLength(counts.failing);
    expect(await ids("all")).toHaveLength(counts.total);
    const detail = await (await call(`/console/api/schedules/${paused}`)).json();
    expect(detail.schedule).toMatchObject({ isActive: false, state: "paused" });
    expect(detail.nextSlots).toEqual([]);
    const active = await (await call(`/console/api/schedules/${validA}`)).json();
    expect(active.nextSlots).toHaveLength(10);
  });
});
