import { expect, test } from "bun:test";
import { parseDotenv } from "../../src/config/dotenv.ts";

test("parses KEY=value lines, export, quotes and comments; ignores junk", () => {
  const text = [
    "# comment",
    "A=1",
    "export B = two words # trailing comment",
    "C='single # not a comment'",
    'D="double\\nline"',
    "not a line",
    "E=",
    "F=a=b",
  ].join("\r\n");
  expect(parseDotenv(text)).toEqual({
    A: "1",
    B: "two words",
    C: "single # not a comment",
    D: "double\nline",
    E: "",
    F: "a=b",
  });
});

test("a double-quoted value may span lines; backticks quote too; nothing is expanded", () => {
  expect(parseDotenv('KEY="-----BEGIN-----\nabc\n-----END-----"\nNEXT=1\nT=`it\'s "x"`\nH="$HOME"')).toEqual({
    KEY: "-----BEGIN-----\nabc\n-----END-----",
    NEXT: "1",
    T: `it's "x"`,
    H: "$HOME",
  });
});

test("an unquoted # starts a comment even inside a word, so a value holding # must be quoted", () => {
  expect(parseDotenv("POSTGRES_PASSWORD=ab#cd\nRABBITMQ_PASSWORD='ab#cd'")).toEqual({
    POSTGRES_PASSWORD: "ab",
    RABBITMQ_PASSWORD: "ab#cd",
  });
});

test("the last of repeated keys wins", () => {
  expect(parseDotenv("A=1\nA=2")).toEqual({ A: "2" });
});
