import { describe, expect, test } from "bun:test";
import { type ProcessStats, renderMetrics } from "../../src/observe/exposition.ts";
import { createMetrics, LAG_BUCKETS, observeLag } from "../../src/observe/metrics.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";

const PROCESS: ProcessStats = { residentBytes: 52_428_800, cpuSecondsTotal: 1.25, startTimeSeconds: 1_795_000_000 };

/** Family name → type, in the order they are rendered. */
const familiesOf = (text: string) => [...parseExposition(text).families.values()].map((f) => `${f.name} ${f.type}`);

describe("renderMetrics", () => {
  test("renders a valid exposition for a fresh process", () => {
    const text = renderMetrics(createMetrics(1_795_000_000_000), PROCESS);
    expect(parseExposition(text).problems).toEqual([]);
  });

  test("renders a valid exposition with counters, lags and gauges set", () => {
    const metrics = createMetrics(1_795_000_000_000);
    Object.assign(metrics, {
      checks: 120,
      executions: 57,
      failures: 3,
      skipped: 1,
      missed: 4,
      paused: 1,
      unknown: 2,
      lastCheckMs: 1_795_000_120_500,
      lastExecutionMs: 1_795_000_119_000,
      dbUp: true,
      mqUp: true,
      dueBacklog: 12,
      oldestOverdueSeconds: 93.5,
      invalidRows: 2,
    });
    for (const lag of [0.001, 0.004, 0.02, 0.3, 0.3, 7, 45, 301, 1e6, -1]) observeLag(metrics, lag);
    const exposition = parseExposition(renderMetrics(metrics, PROCESS));

    expect(exposition.problems).toEqual([]);
    expect(sampleValue(exposition, "rune_scheduler_executions_total")).toBe(57);
    expect(sampleValue(exposition, "rune_scheduler_database_up")).toBe(1);
    expect(sampleValue(exposition, "rune_scheduler_last_check_timestamp_seconds")).toBe(1_795_000_120.5);
    expect(sampleValue(exposition, "rune_scheduler_fire_lag_seconds_bucket", { le: "0.005" })).toBe(3); // 0.001, 0.004 and -1 (as 0)
    expect(sampleValue(exposition, "rune_scheduler_fire_lag_seconds_bucket", { le: "300" })).toBe(8);
    expect(sampleValue(exposition, "rune_scheduler_fire_lag_seconds_bucket", { le: "+Inf" })).toBe(10);
    expect(sampleValue(exposition, "rune_scheduler_fire_lag_seconds_count")).toBe(10);
  });

  test("gives every lag bucket and the +Inf bucket, in increasing order", () => {
    const family = parseExposition(renderMetrics(createMetrics(0), PROCESS)).families.get(
      "rune_scheduler_fire_lag_seconds",
    )!;
    const bounds = family.samples.filter((s) => s.name.endsWith("_bucket")).map((s) => s.labels.le);
    expect(bounds).toEqual([...LAG_BUCKETS.map(String), "+Inf"]);
  });

  test("keeps the metric names operators alert on", () => {
    expect(familiesOf(renderMetrics(createMetrics(0), PROCESS))).toMatchInlineSnapshot(`
      [
        "rune_scheduler_checks_total counter",
        "rune_scheduler_executions_total counter",
        "rune_scheduler_failures_total counter",
        "rune_scheduler_skipped_misfires_total counter",
        "rune_scheduler_missed_slots_total counter",
        "rune_scheduler_unknown_outcomes_total counter",
        "rune_scheduler_paused_schedules_total counter",
        "rune_scheduler_fire_lag_seconds histogram",
        "rune_scheduler_last_check_timestamp_seconds gauge",
        "rune_scheduler_last_execution_timestamp_seconds gauge",
        "rune_scheduler_database_up gauge",
        "rune_scheduler_broker_up gauge",
        "rune_scheduler_due_backlog gauge",
        "rune_scheduler_oldest_overdue_seconds gauge",
        "rune_scheduler_paused_schedules gauge",
        "rune_scheduler_invalid_schedules gauge",
        "rune_scheduler_console_auth_failures_total counter",
        "rune_scheduler_process_resident_memory_bytes gauge",
        "rune_scheduler_process_cpu_seconds_total counter",
        "rune_scheduler_process_start_time_seconds gauge",
      ]
    `);
  });
});

/** The validator must reject what it claims to, or the tests above prove nothing. */
describe("the exposition validator", () => {
  const ok = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n";
  const histogram = (lines: string) => `# HELP h_seconds H.\n# TYPE h_seconds histogram\n${lines}`;
  const cases: [string, string, RegExp][] = [
    ["no HELP", "# TYPE a_total counter\na_total 1\n", /no # HELP/],
    ["no TYPE", "# HELP a_total A.\na_total 1\n", /no # TYPE/],
    ["no HELP or TYPE at all", "a_total 1\n", /no # HELP and # TYPE/],
    ["TYPE after the sample", "# HELP a_total A.\na_total 1\n# TYPE a_total counter\n", /comes after its samples/],
    ["a bad name", "# HELP 1a A.\n# TYPE 1a gauge\n1a 1\n", /invalid metric name "1a"/],
    ["a counter without _total", "# HELP a A.\n# TYPE a counter\na 1\n", /does not end in _total/],
    ["a gauge with _total", "# HELP a_total A.\n# TYPE a_total gauge\na_total 1\n", /ends in _total/],
    ["a value that is not a float", "# HELP a_total A.\n# TYPE a_total counter\na_total 1,5\n", /not a float/],
    ["a negative counter", "# HELP a_total A.\n# TYPE a_total counter\na_total -1\n", /must be ≥ 0/],
    ["a duplicate series", `${ok}a_total 2\n`, /duplicate series/],
    [
      "a duplicate with labels reordered",
      `# HELP g G.\n# TYPE g gauge\ng{a="1",b="2"} 1\ng{b="2",a="1"} 1\n`,
      /duplicate series/,
    ],
    ["samples split apart", `${ok}# HELP b B.\n# TYPE b gauge\nb 1\na_total{x="1"} 1\n`, /not together/],
    ["no line feed at the end", ok.trimEnd(), /end with a line feed/],
    ["a bad label escape", `# HELP g G.\n# TYPE g gauge\ng{a="\\t"} 1\n`, /invalid escape/],
    [
      "buckets that are not cumulative",
      histogram(
        'h_seconds_bucket{le="1"} 5\nh_seconds_bucket{le="2"} 3\nh_seconds_bucket{le="+Inf"} 5\nh_seconds_sum 4\nh_seconds_count 5\n',
      ),
      /not cumulative/,
    ],
    ["no +Inf bucket", histogram('h_seconds_bucket{le="1"} 5\nh_seconds_sum 4\nh_seconds_count 5\n'), /no le="\+Inf"/],
    [
      "+Inf differing from _count",
      histogram('h_seconds_bucket{le="1"} 5\nh_seconds_bucket{le="+Inf"} 5\nh_seconds_sum 4\nh_seconds_count 6\n'),
      /differs from _count/,
    ],
    ["no _sum", histogram('h_seconds_bucket{le="+Inf"} 5\nh_seconds_count 5\n'), /no _sum/],
  ];
  test.each(cases)("rejects %s", (_, text, problem) => {
    const { problems } = parseExposition(text);
    expect(problems.some((p) => problem.test(p))).toBe(true);
  });

  test("accepts the usual forms: labels, escapes, special floats, timestamps, comments", () => {
    const text = `${[
      "# a comment",
      "# HELP g A gauge with a \\\\ and a \\n in its help.",
      "# TYPE g gauge",
      'g{path="/a\\"b\\\\c\\n",code="200"} +Inf 1795000000000',
      'g{path="/x"} -1.5e-3',
      'g{path="/y"} NaN',
      ok.trimEnd(),
      histogram('h_seconds_bucket{le="0.5"} 1\nh_seconds_bucket{le="+Inf"} 2\nh_seconds_sum 3.5\nh_seconds_count 2'),
    ].join("\n")}\n`;
    const exposition = parseExposition(text);
    expect(exposition.problems).toEqual([]);
    expect(exposition.families.get("g")!.samples[0]!.labels).toEqual({ path: '/a"b\\c\n', code: "200" });
  });
});
