/**
 * The layers of src/, kept by reading the imports against the two tables of docs/development.md
 * ("Import rule"): which layer may import which, and where each driver may be used. The tables are
 * read from the page itself, so the rule has one home. No two layers import each other, directly
 * or round a loop.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../../src");
const DOC = resolve(import.meta.dir, "../../docs/development.md");

/** One import: from which layer and file, to which layer (or package), as written. */
type Edge = { readonly from: string; readonly to: string; readonly file: string; readonly spec: string };

interface ImportRule {
  /** Layer → the other layers it may import. */
  readonly layers: ReadonlyMap<string, readonly string[]>;
  /** Driver → the places (a layer's folder, or a file) that may use it. */
  readonly drivers: ReadonlyMap<string, readonly string[]>;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx)$/.test(entry.name) ? [path] : [];
  });
}

/**
 * The layer of a path relative to src/: its first folder or the root file itself; the console's
 * page and its contract with the server are layers of their own.
 */
export function layerOf(rel: string): string {
  if (rel === "console/contract.ts") return rel;
  if (rel.startsWith("console/web/")) return "console/web";
  return rel.split("/")[0]!;
}

/** `src/engine/` → `engine`, `src/main.ts` → `main.ts`, a package name as it is. */
const nameOf = (cell: string) => cell.replace(/^src\//, "").replace(/\/$/, "");

/** The rows of the first table whose header's first cell is `first`. */
function tableRows(markdown: string, first: string): string[][] {
  const lines = markdown.split("\n");
  const header = lines.findIndex((line) => new RegExp(`^\\|\\s*${first}\\s*\\|`).test(line));
  if (header < 0) throw new Error(`docs/development.md has no table headed "${first}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(line.split("|").slice(1, -1));
  }
  return rows;
}

const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => nameOf(m[1]!));

/** The import rule as docs/development.md's "Import rule" section writes it. */
export function readRule(markdown: string): ImportRule {
  const section = markdown.slice(markdown.indexOf("## Import rule"));
  // A row that names no layer, or one named twice, is a typo: refused, not read as a rule.
  const table = (first: string) => {
    const rows = new Map<string, string[]>();
    for (const [name, allowed] of tableRows(section, first)) {
      const names = ticked(name!);
      if (names.length !== 1) throw new Error(`docs/development.md: a "${first}" row names no one ${first}: |${name}|`);
      if (rows.has(names[0]!)) throw new Error(`docs/development.md: two "${first}" rows for ${names[0]}`);
      rows.set(names[0]!, ticked(allowed!));
    }
    return rows;
  };
  return { layers: table("layer"), drivers: table("driver") };
}

/** Every import specifier of a file: static, type-only, re-exports, dynamic `import()` and `require()`. */
export function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/** Bun's connection APIs reached through the global, which no import shows. */
const BUN_GLOBAL = /\bBun\s*\.\s*(serve|connect|listen|udpSocket|SQL|sql|postgres|redis|RedisClient)\b/;

/** A package as the driver table names it: Node's own modules with their `node:` prefix (`net` is `node:net`). */
const packageOf = (spec: string) => (builtinModules.includes(spec) ? `node:${spec}` : spec);

/** What an import of a file outside src/ leads to. */
const OUTSIDE = "outside src/";

/** The edges of one file: layers it imports (relative specifiers) and packages it names. */
export function fileEdges(rel: string, text: string): Edge[] {
  const from = layerOf(rel);
  const found: Edge[] = [];
  for (const spec of specifiers(text)) {
    if (!spec.startsWith(".")) {
      found.push({ from, to: packageOf(spec), file: rel, spec });
      continue;
    }
    const target = relative(SRC, resolve(SRC, dirname(rel), spec));
    if (target === "../package.json") continue; // read for the version
    if (target.startsWith("..")) {
      // Outside src/ (scripts, tests, a package's file by its path): no layer, so no rule allows it.
      found.push({ from, to: OUTSIDE, file: rel, spec });
      continue;
    }
    const to = layerOf(target);
    if (to !== from) found.push({ from, to: `src/${to}`, file: rel, spec });
  }
  const bun = BUN_GLOBAL.exec(text);
  if (bun) found.push({ from, to: "bun", file: rel, spec: bun[0] });
  return found;
}

function edges(): Edge[] {
  return sourceFiles(SRC).flatMap((file) => fileEdges(relative(SRC, file), readFileSync(file, "utf8")));
}

/** Whether `file` (relative to src/) is `place` or inside it. */
const within = (file: string, place: string) => file === place || file.startsWith(`${place}/`);

/** Every import the rule does not allow, one line each. */
export function violations(all: readonly Edge[], rule: ImportRule): string[] {
  const found: string[] = [];
  for (const e of all) {
    const allowed = rule.layers.get(e.from);
    if (!allowed) {
      found.push(`src/${e.file}: layer ${e.from} has no row in the import rule`);
      continue;
    }
    if (e.to === OUTSIDE) {
      found.push(`src/${e.file} imports ${e.spec} (outside src/: only ../package.json is read)`);
      continue;
    }
    if (e.to.startsWith("src/")) {
      if (!allowed.includes(e.to.slice(4)))
        found.push(`src/${e.file} imports ${e.spec} (${e.from} may not import ${e.to.slice(4)})`);
      continue;
    }
    // A package: the browser's page imports none; a driver only where the table says.
    if (e.from === "console/web") {
      found.push(`src/${e.file} imports ${e.spec} (the page imports only its own folder and the contract)`);
      continue;
    }
    const driver = rule.drivers.get(e.to) ?? rule.drivers.get(e.to.split("/")[0]!);
    if (driver && !driver.some((place) => within(e.file, place)))
      found.push(`src/${e.file} uses ${e.spec} (a driver, only in ${driver.join(", ") || "no file"})`);
  }
  return [...new Set(found)];
}

/** Each loop between layers once, as `a → b → … → a`. */
export function layerLoops(all: readonly { readonly from: string; readonly to: string }[]): string[] {
  const next = new Map<string, Set<string>>();
  for (const e of all) next.set(e.from, (next.get(e.from) ?? new Set()).add(e.to));
  const loops = new Set<string>();
  const visit = (node: string, path: string[]) => {
    const at = path.indexOf(node);
    if (at >= 0) {
      const loop = path.slice(at);
      // One name per loop whatever layer it was entered from: rotate to its smallest member.
      const start = loop.indexOf([...loop].sort()[0]!);
      const rotated = [...loop.slice(start), ...loop.slice(0, start)];
      loops.add([...rotated, rotated[0]].join(" → "));
      return;
    }
    for (const to of next.get(node) ?? []) visit(to, [...path, node]);
  };
  for (const node of next.keys()) visit(node, []);
  return [...loops].sort();
}

describe("the layers of src/", () => {
  const rule = readRule(readFileSync(DOC, "utf8"));
  const all = edges();

  test("docs/development.md's import rule has a row for every layer and every driver the checks know", () => {
    const present = new Set(sourceFiles(SRC).map((file) => layerOf(relative(SRC, file))));
    expect([...present].filter((layer) => !rule.layers.has(layer))).toEqual([]);
    expect([...rule.drivers.keys()].sort()).toEqual(
      ["amqplib", "bun", "node:http", "node:https", "node:net", "node:tls", "postgres"].sort(),
    );
  });

  test("every import is one the rule allows: layers, drivers, the console's page", () => {
    expect(violations(all, rule)).toEqual([]);
  });

  test("no loop between layers, in the code or in the rule itself", () => {
    expect(layerLoops(all.filter((e) => e.to.startsWith("src/")).map((e) => ({ ...e, to: e.to.slice(4) })))).toEqual(
      [],
    );
    const allowed = [...rule.layers].flatMap(([from, tos]) => tos.map((to) => ({ from, to })));
    expect(layerLoops(allowed)).toEqual([]);
  });

  test("the reading sees every kind of import and every kind of rule, so the checks above can fail", () => {
    expect(
      specifiers(
        [
          'import postgres from "postgres";',
          'import type { Sql } from "../postgres/client.ts";',
          "import {\n  a,\n  b,\n} from './x.ts';",
          'export { c } from "./y.ts";',
          'import "./side-effect.ts";',
          'const lazy = await import("../rabbitmq/broker.ts");',
          'const amqp = require("amqplib");',
        ].join("\n"),
      ),
    ).toEqual([
      "postgres",
      "../postgres/client.ts",
      "./x.ts",
      "./y.ts",
      "./side-effect.ts",
      "../rabbitmq/broker.ts",
      "amqplib",
    ]);
    expect(layerOf("console/web/main.ts")).toBe("console/web");
    expect(layerOf("console/contract.ts")).toBe("console/contract.ts");
    expect(layerOf("console/api.ts")).toBe("console");
    expect(layerOf("main.ts")).toBe("main.ts");

    const planted = [
      // A layer importing one its row does not name (the engine reaching an adapter).
      ...fileEdges("engine/a.ts", 'import type { Sql } from "../postgres/client.ts";'),
      // The page importing server code, and a package.
      ...fileEdges("console/web/b.ts", 'import { h } from "../rows.ts";\nimport { defineCommand } from "citty";'),
      // A driver outside its adapter: imported, and through Bun's global.
      ...fileEdges("commands/c.ts", 'import amqp from "amqplib";\nimport { connect } from "node:net";'),
      ...fileEdges("console/d.ts", "const socket = await Bun.connect({ hostname, port });"),
      // A driver named without Node's prefix, and one loaded with require().
      ...fileEdges("operator/i.ts", 'import { connect } from "tls";\nconst amqp = require("amqplib");'),
      // A file outside src/ by its path: a package's own file, or test code.
      ...fileEdges("engine/j.ts", 'import amqp from "../../node_modules/amqplib/channel_api.js";'),
      // A folder the rule does not know.
      ...fileEdges("extra/e.ts", 'import { x } from "../schedule/kinds.ts";'),
      // Allowed: the page's contract, a driver in its adapter, a non-driver package, one's own layer.
      ...fileEdges("console/web/f.ts", 'import { FILTERS } from "../contract.ts";\nimport { h } from "./dom.ts";'),
      ...fileEdges("postgres/g.ts", 'import postgres from "postgres";\nimport { connect } from "node:tls";'),
      ...fileEdges("observe/http.ts", 'import type { Server } from "bun";\nBun.serve({});'),
      ...fileEdges("cli/h.ts", 'import { defineCommand } from "citty";\nimport { EXIT } from "./exit.ts";'),
      ...fileEdges("version.ts", 'import pkg from "../package.json" with { type: "json" };'),
    ];
    expect(violations(planted, rule)).toEqual([
      "src/engine/a.ts imports ../postgres/client.ts (engine may not import postgres)",
      "src/console/web/b.ts imports ../rows.ts (console/web may not import console)",
      "src/console/web/b.ts imports citty (the page imports only its own folder and the contract)",
      "src/commands/c.ts uses amqplib (a driver, only in rabbitmq)",
      "src/commands/c.ts uses node:net (a driver, only in postgres, rabbitmq)",
      "src/console/d.ts uses Bun.connect (a driver, only in observe/http.ts, observe/http-listener.ts)",
      "src/operator/i.ts uses tls (a driver, only in postgres, rabbitmq, observe/http-listener.ts, commands/http-probe.ts)",
      "src/operator/i.ts uses amqplib (a driver, only in rabbitmq)",
      "src/engine/j.ts imports ../../node_modules/amqplib/channel_api.js (outside src/: only ../package.json is read)",
      "src/extra/e.ts: layer extra has no row in the import rule",
    ]);
    expect(
      layerLoops([
        { from: "cli", to: "commands" },
        { from: "commands", to: "cli" },
        { from: "engine", to: "schedule" },
      ]),
    ).toEqual(["cli → commands → cli"]);
    expect(() => tableRows("no table here", "layer")).toThrow('docs/development.md has no table headed "layer"');
    const doc = (rows: string) =>
      `## Import rule\n\n| layer | may import |\n|---|---|\n${rows}\n\n| driver | may be used in |\n|---|---|\n| \`postgres\` | \`src/postgres/\` |\n`;
    expect(readRule(doc("| `src/engine/` | `src/schedule/` |")).layers.get("engine")).toEqual(["schedule"]);
    expect(() => readRule(doc("| `src/engine/` | `src/schedule/` |\n| `src/engine/` | `src/postgres/` |"))).toThrow(
      'two "layer" rows for engine',
    );
    expect(() => readRule(doc("| src/engine/ | `src/schedule/` |"))).toThrow('a "layer" row names no one layer');
  });
});
