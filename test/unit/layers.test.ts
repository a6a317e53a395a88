/**
 * The layers of src/ (docs/development.md, "Module map"), kept by reading the imports: the engine
 * and the pure schedule code import no driver and no adapter, and no two folders import each
 * other, directly or round a loop. Each file at the root of src/ (main.ts, service.ts, …) is a
 * layer of its own. The console's page (src/console/web/) is bundled for the browser: it imports
 * nothing from src/ but its own files and the console's contract, and the contract only files
 * that import nothing.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../../src");

/** Folders (or root files) whose code must not reach a driver or an adapter. */
const PURE = ["engine", "schedule"];
const FORBIDDEN_FOR_PURE = ["postgres", "amqplib", "src/postgres", "src/rabbitmq", "src/console"];

type Edge = { readonly from: string; readonly to: string; readonly file: string; readonly spec: string };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx)$/.test(entry.name) ? [path] : [];
  });
}

/** The layer a path under src/ belongs to: its first folder, or the root file itself. */
function layerOf(path: string): string {
  return relative(SRC, path).split("/")[0]!;
}

/** Every import specifier of a file: static, type-only, re-exports and dynamic `import()`. */
export function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.push(match[1]!);
  return found;
}

function edges(): { layerEdges: Edge[]; external: Edge[] } {
  const layerEdges: Edge[] = [];
  const external: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    for (const spec of specifiers(readFileSync(file, "utf8"))) {
      const edge = (to: string) => ({ from, to, file: relative(SRC, file), spec });
      if (!spec.startsWith(".")) {
        external.push(edge(spec));
        continue;
      }
      const target = resolve(dirname(file), spec);
      const rel = relative(SRC, target);
      if (rel.startsWith("..")) continue; // package.json, read for the version
      const to = layerOf(target);
      if (to !== from) layerEdges.push(edge(to));
      external.push(edge(`src/${to}`));
    }
  }
  return { layerEdges, external };
}

const WEB = join(SRC, "console/web");
const CONTRACT = join(SRC, "console/contract.ts");

/**
 * Imports that would pull server code into the page's bundle: from web/, anything but web/'s own
 * files and the contract; from the contract, anything but files without imports of their own.
 * `imports` gives a file's resolved imports (a package's name as it is).
 */
export function pageViolations(files: readonly string[], imports: (file: string) => string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    if (file.startsWith(`${WEB}/`)) {
      for (const target of imports(file))
        if (!target.startsWith(`${WEB}/`) && target !== CONTRACT)
          found.push(
            `src/${relative(SRC, file)} imports ${target.startsWith("/") ? `src/${relative(SRC, target)}` : target}`,
          );
    } else if (file === CONTRACT) {
      for (const target of imports(file))
        if (!target.startsWith("/") || imports(target).length > 0)
          found.push(
            `src/console/contract.ts imports ${target.startsWith("/") ? `src/${relative(SRC, target)}, which imports more` : target}`,
          );
    }
  }
  return found;
}

function resolvedImports(file: string): string[] {
  return specifiers(readFileSync(file, "utf8")).map((spec) =>
    spec.startsWith(".") ? resolve(dirname(file), spec) : spec,
  );
}

/** Imports of a pure layer that reach a driver or an adapter. */
export function boundaryViolations(all: readonly Edge[]): string[] {
  return all
    .filter((e) => PURE.includes(e.from))
    .filter((e) => FORBIDDEN_FOR_PURE.some((bad) => e.to === bad || e.to.startsWith(`${bad}/`)))
    .map((e) => `src/${e.file} imports ${e.spec}`);
}

/** Each loop between layers once, as `a → b → … → a`. */
export function layerLoops(all: readonly Edge[]): string[] {
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
  const { layerEdges, external } = edges();

  test("the engine and the schedule code import no driver, no adapter and no console", () => {
    expect(boundaryViolations(external)).toEqual([]);
  });

  test("the console's page imports nothing from src/ but its own files and the contract", () => {
    expect(pageViolations(sourceFiles(SRC), resolvedImports)).toEqual([]);
    const planted: Record<string, string[]> = {
      [join(WEB, "a.ts")]: [join(WEB, "dom.ts"), CONTRACT, join(SRC, "console/rows.ts"), "postgres"],
      [CONTRACT]: [join(SRC, "schedule/units.ts"), join(SRC, "schedule/kinds.ts")],
      [join(SRC, "schedule/units.ts")]: [],
      [join(SRC, "schedule/kinds.ts")]: [join(SRC, "schedule/cron.ts")],
    };
    expect(pageViolations(Object.keys(planted), (file) => planted[file] ?? [])).toEqual([
      "src/console/web/a.ts imports src/console/rows.ts",
      "src/console/web/a.ts imports postgres",
      "src/console/contract.ts imports src/schedule/kinds.ts, which imports more",
    ]);
  });

  test("no loop between folders", () => {
    expect(layerLoops(layerEdges)).toEqual([]);
  });

  test("the reading sees every kind of import, so the checks above can fail", () => {
    expect(
      specifiers(
        [
          'import postgres from "postgres";',
          'import type { Sql } from "../postgres/client.ts";',
          "import {\n  a,\n  b,\n} from './x.ts';",
          'export { c } from "./y.ts";',
          'import "./side-effect.ts";',
          'const lazy = await import("../rabbitmq/broker.ts");',
        ].join("\n"),
      ),
    ).toEqual(["postgres", "../postgres/client.ts", "./x.ts", "./y.ts", "./side-effect.ts", "../rabbitmq/broker.ts"]);
    const planted: Edge[] = [
      { from: "engine", to: "postgres", file: "engine/a.ts", spec: "postgres" },
      { from: "engine", to: "src/rabbitmq", file: "engine/b.ts", spec: "../rabbitmq/link.ts" },
      { from: "schedule", to: "src/schedule", file: "schedule/c.ts", spec: "./d.ts" },
    ];
    expect(boundaryViolations(planted)).toEqual([
      "src/engine/a.ts imports postgres",
      "src/engine/b.ts imports ../rabbitmq/link.ts",
    ]);
    expect(
      layerLoops([
        { from: "cli", to: "commands", file: "", spec: "" },
        { from: "commands", to: "cli", file: "", spec: "" },
        { from: "engine", to: "schedule", file: "", spec: "" },
      ]),
    ).toEqual(["cli → commands → cli"]);
  });
});
