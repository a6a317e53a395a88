/**
 * The operator console's numbers: `bun scripts/bench-console.ts [--rows 1000000] [--baseline old-binary]`.
 * A page of 50 rows per filter on a million schedules with the console indexes (server time, the
 * median of 15 runs, first page and a page deep in the table), the first load of the page in
 * Chromium, the size of its JS and CSS gzipped, the binary's size, and the idle RSS of `run` with
 * the console off and on with no browser. Builds nothing: run scripts/build.ts first.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { FILTERS } from "../src/console/contract.ts";
import { buildConsoleAssets } from "../src/console/web-build.ts";
import { listSchedules } from "../src/postgres/console-queries.ts";
import { findInvalid } from "../src/postgres/invalid-rows.ts";
import { scheduleColumns } from "../src/postgres/store.ts";
import { launchBrowser } from "../test/support/browser.ts";
import { type BenchDatabase, cleanupAll, createDatabase, uniqueName } from "./bench/env.ts";
import { processSample, startScheduler } from "./bench/process.ts";
import { summarize } from "./bench/stats.ts";
import { splitStatements } from "./sql-statements.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    rows: { type: "string", default: "1000000" },
    baseline: { type: "string" },
    binary: { type: "string", default: "dist/rune-scheduler" },
    "load-only": { type: "boolean", default: false },
  },
});
const ROWS = Number(values.rows);
const BINARY = resolve(values.binary!);
const TOKEN = "bench-console-token-0123456789";
const ms = (n: number) => `${n.toFixed(2)} ms`;
/** The first-load target, to the page showing its instance info and figures. */
const FIRST_LOAD_TARGET_MS = 300;
/** How long the console keeps the table-wide counts: each load waits this out, so none is served from the cache. */
const COUNTS_KEPT_MS = 5_000;
const spreadOf = (s: { median: number; min: number; max: number; spread: number }) =>
  `${ms(s.median)} (${ms(s.min)}–${ms(s.max)}, spread ${(s.spread * 100).toFixed(0)} %)`;

try {
  const db = await createDatabase("rune_bench_console");
  const { sql } = db;
  const started = performance.now();
  await sql`INSERT INTO workflows (id, name, workflow_data) SELECT g, 'report-' || g, '{"k":1}' FROM generate_series(1, 1000) g`;
  // Due over the next 30 days; 1 % inactive, 0.5 % failing, 0.1 % overdue, 0.01 % without a workflow.
  await sql`
    INSERT INTO scheduled_workflows (workflow_id, is_active, next_run_at, interval_seconds, failure_count, last_error)
    SELECT CASE WHEN g % 10000 = 7 THEN 999999 ELSE 1 + g % 1000 END, g % 100 <> 3,
           now() AT TIME ZONE 'UTC' + CASE WHEN g % 1000 = 5 THEN -interval '1 hour' ELSE random() * interval '30 days' END,
           3600, CASE WHEN g % 200 = 11 THEN 3 ELSE 0 END, CASE WHEN g % 200 = 11 THEN 'RabbitMQ did not take message' END
      FROM generate_series(1, ${ROWS}::int) g`;
  // The console's optional indexes, as an operator with a large table adds them: one statement at
  // a time, since CREATE INDEX CONCURRENTLY cannot run in the implicit transaction of several.
  const migration = await Bun.file(resolve(import.meta.dir, "migrations/002_console_indexes.sql")).text();
  for (const statement of splitStatements(migration)) await sql.unsafe(statement);
  await sql`VACUUM ANALYZE scheduled_workflows`;
  await sql`VACUUM ANALYZE workflows`;
  console.log(
    `seeded ${ROWS.toLocaleString("en")} schedules in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const queue = uniqueName("rune_bench_console_q");
  if (!values["load-only"]) await listsAssetsAndMemory(db, queue);
  await firstLoad(db.name, queue);
} finally {
  await cleanupAll();
}

async function listsAssetsAndMemory(db: BenchDatabase, queue: string) {
  const { sql } = db;
  const columns = await scheduleColumns(sql);
  console.log("\npage of 50 rows, server time (median of 15; min–max):");
  const cases = [
    ...FILTERS.map((filter) => ({ label: filter, filter, search: "" })),
    { label: "search id", filter: "all" as const, search: "424242" },
    { label: "search name", filter: "all" as const, search: "report-77" },
    { label: "search name, rare", filter: "all" as const, search: "no-such-workflow" },
  ];
  for (const c of cases) {
    const request = { filter: c.filter, search: c.search, after: null, limit: 50, overdueAfterMs: 30_000 };
    let deep = await listSchedules(sql, columns, request);
    for (let i = 0; i < 20 && deep.next; i++)
      deep = await listSchedules(sql, columns, { ...request, after: deep.next });
    // The console keeps one invalid-row scan for 30 s: its first page pays the scan, the next do not.
    const scanned = await findInvalid(sql, 1_000, columns);
    const cached = async () => scanned;
    const timings = { first: [] as number[], deep: [] as number[] };
    let note: string | null = null;
    for (let run = 0; run < 15; run++) {
      for (const [key, after] of [
        ["first", null],
        ["deep", deep.next],
      ] as const) {
        const t0 = performance.now();
        const page = await listSchedules(sql, columns, { ...request, after }, key === "deep" ? cached : undefined);
        timings[key].push(performance.now() - t0);
        note ??= page.note;
      }
    }
    const first = summarize(timings.first);
    const deeper = summarize(timings.deep);
    console.log(
      `  ${c.label.padEnd(20)} first ${ms(first.median)} (${ms(first.min)}–${ms(first.max)})   page 21 ${ms(deeper.median)}${c.filter === "invalid" ? " (scan cached)" : ""}${note ? `   [${note}]` : ""}`,
    );
  }

  const assets = await buildConsoleAssets();
  const gz = (text: string) => Bun.gzipSync(Buffer.from(text)).length;
  console.log(
    `\nassets: JS ${assets.js.length} B (${gz(assets.js)} B gzipped), CSS ${assets.css.length} B (${gz(assets.css)} B gzipped), total gzipped ${gz(assets.js) + gz(assets.css)} B`,
  );
  const size = statSync(BINARY).size;
  const baseline = values.baseline ? statSync(values.baseline).size : null;
  console.log(
    `binary: ${size} B${baseline === null ? "" : ` (baseline ${baseline} B: ${size - baseline >= 0 ? "+" : ""}${size - baseline} B)`}`,
  );

  const rss: Record<string, number[]> = { off: [], on: [] };
  for (let round = 0; round < 3; round++) {
    for (const mode of ["off", "on"] as const) {
      const scheduler = await startScheduler(
        BINARY,
        db.name,
        queue,
        mode === "on" ? { SCHEDULER_CONSOLE_TOKEN: TOKEN } : {},
      );
      await scheduler.ready(30_000);
      await Bun.sleep(8_000);
      rss[mode]!.push(processSample(scheduler.pid).rssBytes / 2 ** 20);
      await scheduler.stop();
    }
  }
  const off = summarize(rss.off!);
  const on = summarize(rss.on!);
  console.log(
    `idle RSS, no browser (median of 3): console off ${off.median.toFixed(1)} MiB, on ${on.median.toFixed(1)} MiB (${on.median - off.median >= 0 ? "+" : ""}${(on.median - off.median).toFixed(1)} MiB)`,
  );
}

/**
 * The page in a fresh browser context, each time after the console's kept counts expired: the time
 * to its first render (instance, this replica's counters, the next ten up) and to the table-wide
 * counts (the Schedules card filled in, nothing left counting). Timed twice: by the page's own
 * clock from the start of navigation (what a person waits), and from the harness's `goto` call
 * (adds opening the context's renderer and the harness's round trips).
 */
async function firstLoad(database: string, queue: string) {
  const scheduler = await startScheduler(BINARY, database, queue, { SCHEDULER_CONSOLE_TOKEN: TOKEN });
  await scheduler.ready(30_000);
  const { browser, close } = await launchBrowser();
  const times = {
    render: [] as number[],
    counts: [] as number[],
    harnessRender: [] as number[],
    harnessCounts: [] as number[],
  };
  for (let run = 0; run < 5; run++) {
    await Bun.sleep(COUNTS_KEPT_MS + 500);
    const context = await browser.newContext();
    await context.addInitScript((token) => {
      sessionStorage.setItem("rune-console-token", token);
      const marks = {} as Record<string, number>;
      (window as unknown as { benchMarks: typeof marks }).benchMarks = marks;
      new MutationObserver(() => {
        if (
          marks.render === undefined &&
          document.querySelector("#instance-h") &&
          document.querySelector("#counters-h")
        )
          marks.render = performance.now();
        if (
          marks.counts === undefined &&
          document.querySelector("#health-h") &&
          !document.querySelector('[aria-busy="true"]')
        )
          marks.counts = performance.now();
      }).observe(document, { childList: true, subtree: true, attributes: true });
    }, TOKEN);
    const page = await context.newPage();
    const t0 = performance.now();
    await page.goto(`http://127.0.0.1:${scheduler.port}/console/`);
    await page.waitForFunction(
      () => document.querySelector("#instance-h") && document.querySelector("#counters-h"),
      null,
      {
        timeout: 30_000,
        polling: "raf",
      },
    );
    times.harnessRender.push(performance.now() - t0);
    await page.waitForFunction(
      () => document.querySelector("#health-h") !== null && document.querySelector('[aria-busy="true"]') === null,
      null,
      { timeout: 30_000, polling: "raf" },
    );
    times.harnessCounts.push(performance.now() - t0);
    const marks = await page.evaluate(() => (window as unknown as { benchMarks: Record<string, number> }).benchMarks);
    times.render.push(marks.render!);
    times.counts.push(marks.counts!);
    await context.close();
  }
  await close();
  await scheduler.stop();
  const met = (s: { median: number }) =>
    `target ≤ ${FIRST_LOAD_TARGET_MS} ms: ${s.median <= FIRST_LOAD_TARGET_MS ? "met" : "missed"}`;
  const line = (label: string, samples: number[], target: boolean) => {
    const s = summarize(samples);
    return `  ${label.padEnd(44)} ${spreadOf(s)}${target ? `   ${met(s)}` : ""}`;
  };
  console.log(
    [
      "\nfirst load, fresh browser context each, counts not kept (median of 5; min–max):",
      "  page's clock, from the start of navigation:",
      line("  to first render (instance, counters, next up)", times.render, true),
      line("  to the table-wide counts", times.counts, false),
      "  harness's clock, from the goto call:",
      line("  to first render", times.harnessRender, true),
      line("  to the table-wide counts", times.harnessCounts, false),
    ].join("\n"),
  );
}
