/**
 * A strict parser and validator of the Prometheus text exposition format 0.0.4, for tests only.
 * Stricter than Prometheus itself where the format leaves room for sloppiness: every family
 * needs # HELP and # TYPE before its first sample, counters end in `_total`, and histograms are
 * checked for cumulative buckets. (parse-prometheus-text-format on npm parses leniently and
 * checks none of this, which is the part we need.)
 */

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly line: number;
}

export interface Family {
  readonly name: string;
  help: string | null;
  type: MetricType | null;
  readonly samples: Sample[];
}

export interface Exposition {
  readonly families: Map<string, Family>;
  /** Everything wrong, each naming its line; empty when the text is valid. */
  readonly problems: string[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;
const TYPES: readonly MetricType[] = ["counter", "gauge", "histogram", "summary", "untyped"];

export function parseFloatValue(text: string): number | null {
  if (!FLOAT.test(text)) return null;
  if (/Inf$/.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  return text === "NaN" ? NaN : Number(text);
}

/** `{a="x",b="y\"z"}` from `start` (at the `{`); returns the labels and the index after `}`. */
function parseLabels(text: string, start: number): { labels: Record<string, string>; end: number } | string {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (text[i] === " ") i++;
    if (text[i] === "}") return { labels, end: i + 1 };
    const name = /^[^=\s]+/.exec(text.slice(i))?.[0] ?? "";
    if (!LABEL_NAME.test(name) || name.startsWith("__")) return `invalid label name "${name}"`;
    i += name.length;
    if (text[i] !== "=" || text[i + 1] !== '"') return `label ${name} needs ="value"`;
    i += 2;
    let value = "";
    for (;;) {
      const c = text[i];
      if (c === undefined) return `unterminated value of label ${name}`;
      if (c === '"') break;
      if (c === "\\") {
        const next = text[i + 1];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else return `invalid escape \\${next ?? ""} in label ${name}`;
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++;
    if (name in labels) return `label ${name} given twice`;
    labels[name] = value;
    if (text[i] === ",") i++;
    else if (text[i] !== "}") return `expected , or } after label ${name}`;
  }
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  const family = families.get(base);
  if (!family || base === name) return undefined;
  if (family.type === "histogram") return family;
  if (family.type === "summary" && !name.endsWith("_bucket")) return family;
  return undefined;
}

export function parseExposition(text: string): Exposition {
  const families = new Map<string, Family>();
  const problems: string[] = [];
  const seen = new Set<string>();
  let current: Family | null = null;
  const declare = (name: string) => {
    let family = families.get(name);
    if (!family) families.set(name, (family = { name, help: null, type: null, samples: [] }));
    return family;
  };
  if (text !== "" && !text.endsWith("\n")) problems.push("the text must end with a line feed");
  const lines = text.split("\n");
  lines.forEach((raw, index) => {
    const n = index + 1;
    const problem = (what: string) => problems.push(`line ${n}: ${what}`);
    if (raw.trim() === "") return;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
    if (meta) {
      const [, kind, name, rest = ""] = meta as unknown as [string, "HELP" | "TYPE", string, string | undefined];
      if (!METRIC_NAME.test(name)) problem(`invalid metric name "${name}"`);
      const family = declare(name);
      if (family.samples.length > 0) problem(`# ${kind} ${name} comes after its samples`);
      if (kind === "HELP") {
        if (family.help !== null) problem(`second # HELP for ${name}`);
        if (!/^(?:[^\\]|\\[n\\])*$/.test(rest)) problem(`invalid escape in # HELP ${name}`);
        family.help = rest;
      } else {
        if (family.type !== null) problem(`second # TYPE for ${name}`);
        if (!(TYPES as readonly string[]).includes(rest.trim())) problem(`unknown type "${rest}" for ${name}`);
        family.type = rest.trim() as MetricType;
        if (family.type === "counter" && !name.endsWith("_total")) problem(`counter ${name} does not end in _total`);
        if (family.type !== "counter" && name.endsWith("_total"))
          problem(`${family.type} ${name} ends in _total, which is for counters`);
      }
      return;
    }
    if (raw.startsWith("#")) return; // a plain comment
    const name = /^[^\s{]+/.exec(raw)?.[0] ?? "";
    if (!METRIC_NAME.test(name)) {
      problem(`invalid metric name "${name}"`);
      return;
    }
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) {
      const parsed = parseLabels(rest, 0);
      if (typeof parsed === "string") {
        problem(parsed);
        return;
      }
      labels = parsed.labels;
      rest = rest.slice(parsed.end);
    }
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(" ") || parts.length < 1 || parts.length > 2) {
      problem(`expected "name{labels} value [timestamp]"`);
      return;
    }
    const value = parseFloatValue(parts[0]!);
    if (value === null) problem(`value "${parts[0]}" of ${name} is not a float`);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1]))
      problem(`timestamp "${parts[1]}" of ${name} is not an integer`);
    const family = familyOf(name, families);
    if (!family) {
      problem(`sample ${name} has no # HELP and # TYPE before it`);
      return;
    }
    if (family.help === null) problem(`sample ${name} has no # HELP before it`);
    if (family.type === null) problem(`sample ${name} has no # TYPE before it`);
    if (current !== family && family.samples.length > 0) problem(`samples of ${family.name} are not together`);
    current = family;
    const series = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(",")}}`;
    if (seen.has(series)) problem(`duplicate series ${series}`);
    seen.add(series);
    if (family.type === "counter" && value !== null && !(value >= 0))
      problem(`counter ${name} is ${parts[0]}, must be ≥ 0`);
    family.samples.push({ name, labels, value: value ?? NaN, line: n });
  });
  for (const family of families.values()) {
    if (family.samples.length === 0) problems.push(`${family.name} is declared but has no sample`);
    if (family.type === "histogram") problems.push(...histogramProblems(family));
  }
  return { families, problems };
}

/** Buckets of each histogram series: cumulative, +Inf present and equal to _count, _sum there. */
function histogramProblems(family: Family): string[] {
  const problems: string[] = [];
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (sample.name === `${family.name}_bucket`) {
      const bound = le === undefined ? null : parseFloatValue(le);
      if (bound === null || Number.isNaN(bound))
        problems.push(`line ${sample.line}: bucket of ${family.name} has le="${le ?? ""}"`);
      else group.buckets.push([bound, sample.value]);
    } else if (sample.name === `${family.name}_sum`) group.sum = sample.value;
    else if (sample.name === `${family.name}_count`) group.count = sample.value;
    else problems.push(`line ${sample.line}: histogram ${family.name} has a bare sample ${sample.name}`);
  }
  for (const [key, group] of groups) {
    const where = `histogram ${family.name}${key === "[]" ? "" : ` ${key}`}`;
    for (let i = 1; i < group.buckets.length; i++) {
      const [previousBound, previous] = group.buckets[i - 1]!;
      const [bound, count] = group.buckets[i]!;
      if (!(bound > previousBound))
        problems.push(`${where}: le="${bound}" does not follow le="${previousBound}" in increasing order`);
      if (!(count >= previous))
        problems.push(
          `${where}: bucket le="${bound}" (${count}) is below le="${previousBound}" (${previous}): not cumulative`,
        );
    }
    const inf = group.buckets.find(([bound]) => bound === Infinity);
    if (!inf) problems.push(`${where}: no le="+Inf" bucket`);
    if (group.count === undefined) problems.push(`${where}: no _count`);
    if (group.sum === undefined) problems.push(`${where}: no _sum`);
    if (inf && group.count !== undefined && inf[1] !== group.count)
      problems.push(`${where}: +Inf bucket (${inf[1]}) differs from _count (${group.count})`);
  }
  return problems;
}

/** The value of the one sample named `name` with exactly these labels (default: none). */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const family of exposition.families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      const keys = Object.keys(sample.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => sample.labels[k] === labels[k]))
        return sample.value;
    }
  }
  return undefined;
}
