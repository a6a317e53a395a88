/**
 * The repository is complete on its own: every `docs/<page>.md §n` that code cites names a page
 * that exists and a heading numbered n on it; nothing cites a file outside the repository; every
 * relative link in README.md and docs/ resolves, anchor included; every setting and every
 * subcommand is documented.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { SETTINGS } from "../../src/config/settings.ts";

const ROOT = resolve(import.meta.dir, "../..");
const DOCS = join(ROOT, "docs");
const SCANNED = ["src", "test", "scripts"];
const SELF = relative(ROOT, import.meta.path);

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

const read = (path: string): string => readFileSync(join(ROOT, path), "utf8");

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slugOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replaceAll(" ", "-");
}

/** A Markdown page's headings: the numbers of `## n. …` headings and every anchor. */
function headingsOf(markdown: string): { numbers: Set<number>; anchors: Set<string> } {
  const numbers = new Set<number>();
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.+)$/.exec(line);
    if (!heading) continue;
    const number = /^(\d+)\. /.exec(heading[1]!);
    if (number && line.startsWith("## ")) numbers.add(Number(number[1]));
    const slug = slugOf(heading[1]!);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return { numbers, anchors };
}

interface Citation {
  readonly file: string;
  readonly page: string;
  readonly sections: readonly number[];
}

/** `docs/design.md §10, §14`, `docs/design.md §1–§20`, `docs/install.md`: the page and each section named. */
function citationsIn(file: string, text: string): Citation[] {
  const found: Citation[] = [];
  for (const match of text.matchAll(/docs\/([\w-]+\.md)((?:(?:,\s*|\s*[–-]\s*|\s+)§\d+)*)/g)) {
    const sections: number[] = [];
    for (const part of match[2]!.matchAll(/([–-]\s*)?§(\d+)/g)) {
      const n = Number(part[2]);
      const from = sections.at(-1);
      // A range (§3–§12) names every section in it.
      if (part[1] && from !== undefined) for (let k = from + 1; k < n; k++) sections.push(k);
      sections.push(n);
    }
    found.push({ file, page: match[1]!, sections });
  }
  return found;
}

/** A citation of a document that is not in the repository. */
const OUTSIDE = /\bSPEC\b|ORIGINAL_DESIGN|shared\/[\w-]+\.md/;

const scanned = SCANNED.flatMap(filesUnder).filter((file) => file !== SELF);
const pages = readdirSync(DOCS).filter((name) => name.endsWith(".md"));
const headings = new Map(pages.map((page) => [page, headingsOf(read(join("docs", page)))]));

describe("citations in src/, test/ and scripts/", () => {
  const citations = scanned.flatMap((file) => citationsIn(file, read(file)));

  test("there are some, so the scan itself works", () => {
    expect(citations.filter((c) => c.sections.length > 0).length).toBeGreaterThan(30);
  });

  test("each names a page in docs/ and headings numbered as cited", () => {
    const broken = citations.flatMap((citation) => {
      const page = headings.get(citation.page);
      if (!page) return [`${citation.file}: docs/${citation.page} does not exist`];
      return citation.sections
        .filter((n) => !page.numbers.has(n))
        .map((n) => `${citation.file}: docs/${citation.page} has no "## ${n}. …" heading`);
    });
    expect(broken).toEqual([]);
  });

  test("none cites a file outside the repository", () => {
    const outside = scanned.flatMap((file) =>
      read(file)
        .split("\n")
        .flatMap((line, i) => (OUTSIDE.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(outside).toEqual([]);
  });
});

describe("links in README.md and docs/", () => {
  const markdown = ["README.md", ...pages.map((page) => join("docs", page))];

  test("every relative link resolves, anchor included", () => {
    const broken: string[] = [];
    for (const file of markdown) {
      const text = read(file).replace(/```[\s\S]*?```/g, "");
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split("#") as [string, string | undefined];
        const resolved = path === "" ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
        if (!existsSync(resolved)) {
          broken.push(`${file}: ${target} (no such file)`);
          continue;
        }
        if (anchor && resolved.endsWith(".md") && !headingsOf(readFileSync(resolved, "utf8")).anchors.has(anchor))
          broken.push(`${file}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  test("README.md links every page of docs/", () => {
    const readme = read("README.md");
    expect(pages.filter((page) => !readme.includes(`](docs/${page})`))).toEqual([]);
  });
});

describe("what the reference must list", () => {
  test("docs/configuration.md names every setting of SETTINGS, and the *_FILE of every secret", () => {
    const configuration = read("docs/configuration.md");
    const names = SETTINGS.flatMap((setting) =>
      setting.kind === "secret" || setting.kind === "url" ? [setting.env, `${setting.env}_FILE`] : [setting.env],
    );
    expect(names.filter((name) => !configuration.includes(`\`${name}\``))).toEqual([]);
  });

  test("docs/development.md's module map names every file of src/", () => {
    const map = read("docs/development.md").split("\n");
    const named = (file: string) => {
      const folder = `\`${dirname(file)}/`;
      const base = file.slice(dirname(file).length + 1);
      return map.some((line) => line.includes(`\`${file}\``) || (line.includes(folder) && line.includes(`${base}\``)));
    };
    const sources = filesUnder("src").filter((file) => /\.tsx?$/.test(file));
    expect(sources.length).toBeGreaterThan(40);
    expect(sources.filter((file) => !named(file))).toEqual([]);
  });

  test("docs/commands.md names every subcommand src/main.ts registers", () => {
    // Read from the source: importing src/main.ts would run the CLI.
    const block = /subCommands: \{([\s\S]*?)\n {2}\},/.exec(read("src/main.ts"))?.[1] ?? "";
    const registered = [...block.matchAll(/^\s*(?:"([\w-]+)"|(\w+))\s*[:,]/gm)].map((m) => m[1] ?? m[2]!);
    expect(registered).toContain("run");
    expect(registered).toContain("check-db");
    const commands = read("docs/commands.md");
    const missing = registered.filter((name) => !new RegExp(`\`(rune-scheduler )?${name}[\` ]`).test(commands));
    expect(missing).toEqual([]);
  });
});
