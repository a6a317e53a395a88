import { expect, test } from "bun:test";
import { parseDotenv } from "../../src/dotenv.ts";

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
  expect(parseDotenv(text)).toEqual({ A: "1", B: "two words", C: "single # not a comment", D: "double\nline", E: "", F: "a=b" });
});
