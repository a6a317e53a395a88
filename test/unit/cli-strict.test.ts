/** The CLI's strict argument check and its suggestions, on plain data. */
import { describe, expect, test } from "bun:test";
import type { ArgsDef } from "citty";
import { checkTokens, nearest } from "../../src/cli/strict.ts";

const ARGS = {
  json: { type: "boolean", description: "one JSON document" },
  "poll-interval": { type: "string", valueHint: "seconds" },
  reason: { description: "no type: citty takes it as a string" },
  id: { type: "positional", description: "schedule id" },
} satisfies ArgsDef;

describe("nearest", () => {
  test("suggests a close name, or one the typed text is part of, and nothing for noise", () => {
    expect(nearest("chek-db", ["run", "check-db", "check-mq"])).toBe("check-db");
    expect(nearest("stat", ["run", "stats"])).toBe("stats");
    expect(nearest("interval", ["poll-interval", "json"])).toBe("poll-interval");
    expect(nearest("bogus-flag", ["poll-interval", "json"])).toBeNull();
  });
});

describe("checkTokens", () => {
  const check = (...tokens: string[]) =>
    checkTokens("cmd", tokens, ARGS, (flag) => (flag === "http-port" ? ["run"] : []));
  test("accepts known flags in every spelling, one positional, and anything after --", () => {
    expect(
      check("7", "--json", "--poll-interval", "5", "--poll-interval=6", "--no-json", "--json=false", "--reason", "-1"),
    ).toEqual({ kind: "run" });
    expect(check("7", "--", "--json")).toEqual({
      kind: "error",
      message: 'cmd takes 1 argument (ID), got "--json" too',
    });
  });
  test("help and version win over a run, but not over an unknown flag", () => {
    expect(check("--poll-interval", "5", "-h")).toEqual({ kind: "help" });
    expect(check("--version")).toEqual({ kind: "version" });
    expect(check("--help", "--nope").kind).toBe("error");
  });
  test("names what is wrong", () => {
    expect(check("7", "--jsn")).toEqual({
      kind: "error",
      message: "unknown option --jsn for cmd; did you mean --json?",
    });
    expect(check("7", "--http-port", "1")).toEqual({
      kind: "error",
      message: "unknown option --http-port for cmd: it is an option of run",
    });
    expect(check("7", "--poll-interval")).toEqual({
      kind: "error",
      message: "--poll-interval needs a value (--poll-interval <seconds> or --poll-interval=<seconds>)",
    });
    expect(check("7", "--reason", "--json")).toEqual({
      kind: "error",
      message: "--reason needs a value (--reason <value> or --reason=<value>)",
    });
    expect(check("7", "--json=1")).toEqual({ kind: "error", message: '--json takes no value (got "1")' });
    expect(check()).toEqual({ kind: "error", message: "cmd needs ID" });
  });
});
