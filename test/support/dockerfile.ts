/** Dockerfile.scratch read as data: its instructions, and the settings its image ends up with. */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO = resolve(import.meta.dir, "../..");
export const DOCKERFILE_PATH = join(REPO, "Dockerfile.scratch");

export interface Instruction {
  keyword: string;
  rest: string;
}

/** One entry per instruction, continuation lines joined, comments dropped. */
export function instructions(dockerfile: string): Instruction[] {
  return dockerfile
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), rest: rest.join(" ") };
    });
}

/** The stages in order: the name after `AS` (or none), the base, and the instructions after FROM. */
export function stages(all: Instruction[]): { name?: string; base: string; body: Instruction[] }[] {
  const found: { name?: string; base: string; body: Instruction[] }[] = [];
  for (const i of all) {
    if (i.keyword === "FROM") {
      const [base, as, name] = i.rest.split(/\s+/);
      found.push({ base: base!, ...(as?.toUpperCase() === "AS" ? { name } : {}), body: [] });
    } else found.at(-1)?.body.push(i);
  }
  return found;
}

/** A stage's instructions with those of the stages it is built FROM first, as the image inherits them. */
export function stageChain(all: Instruction[], name?: string): Instruction[] {
  const list = stages(all);
  let stage = name === undefined ? list.at(-1) : list.find((s) => s.name === name);
  if (!stage) throw new Error(`Dockerfile.scratch has no stage ${name}`);
  const chain: Instruction[][] = [];
  while (stage) {
    chain.unshift(stage.body);
    const base: string = stage.base;
    stage = list.find((s) => s.name === base);
  }
  return chain.flat();
}

/** The image's settings, as a runtime applies them. */
export interface ImageConfig {
  user: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
  stopSignal: string;
}

export function imageConfig(chain: Instruction[]): ImageConfig {
  const one = (keyword: string) => chain.filter((i) => i.keyword === keyword).at(-1)?.rest ?? "";
  const env: Record<string, string> = {};
  for (const i of chain.filter((i) => i.keyword === "ENV")) {
    for (const [, key, value] of i.rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[key!] = value!.replace(/^"|"$/g, "");
  }
  return {
    user: one("USER"),
    env,
    entrypoint: JSON.parse(one("ENTRYPOINT")),
    cmd: JSON.parse(one("CMD")),
    healthcheck: JSON.parse(one("HEALTHCHECK").replace(/^.*?\bCMD\s+/, "")),
    stopSignal: one("STOPSIGNAL"),
  };
}

export const DOCKERFILE = readFileSync(DOCKERFILE_PATH, "utf8");
/** The shipped image (the last stage) and everything it inherits. */
export const IMAGE = imageConfig(stageChain(instructions(DOCKERFILE)));
