import { describe, expect, test } from "bun:test";
import { decodeCursor, encodeCursor } from "../../src/console/cursor.ts";
import { listQuery } from "../../src/console/input.ts";

describe("keyset cursor", () => {
  test("round-trips PostgreSQL's own timestamp text, infinity and NULL", () => {
    for (const next of [
      "2026-03-29 01:30:00.123456",
      "2026-03-29 01:30:00",
      "infinity",
      "-infinity",
      "2026-01-01 00:00:00+00",
      null,
    ]) {
      const cursor = { next, id: 42 };
      expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    }
  });
  test("refuses anything it did not make", () => {
    const bad = [
      "",
      "not base64!",
      Buffer.from("[1,2,3]").toString("base64url"),
      Buffer.from('["2026-01-01 00:00:00", -1]').toString("base64url"),
      Buffer.from('["2026-01-01 00:00:00", 1.5]').toString("base64url"),
      Buffer.from('["2026-01-01 00:00:00", 99999999999]').toString("base64url"),
      Buffer.from('["1\'; DROP TABLE x; --", 1]').toString("base64url"),
      Buffer.from('{"next":null,"id":1}').toString("base64url"),
      "A".repeat(300),
      // The shape of a timestamp, but no date or time PostgreSQL could have printed.
      Buffer.from('["2026-13-45 25:61:61", 1]').toString("base64url"),
      Buffer.from('["2026-02-30 00:00:00", 1]').toString("base64url"),
    ];
    for (const text of bad) expect(decodeCursor(text)).toBeNull();
  });
});

describe("list query", () => {
  const q = (text: string) => () => listQuery(new URLSearchParams(text));
  test("defaults and limits", () => {
    expect(listQuery(new URLSearchParams(""))).toEqual({ filter: "all", search: "", after: null, limit: 50 });
    expect(listQuery(new URLSearchParams("state=failing&limit=200&q=abc")).limit).toBe(200);
  });
  test("bad input is a BadRequest naming the field", () => {
    expect(q("state=broken")).toThrow(/state must be one of/);
    expect(q("limit=0")).toThrow(/limit/);
    expect(q("limit=201")).toThrow(/limit/);
    expect(q("limit=1e2")).toThrow(/limit/);
    expect(q("after=xyz")).toThrow(/cursor/);
    expect(q(`q=${"x".repeat(201)}`)).toThrow(/q is longer/);
    expect(q("sort=id")).toThrow(/unknown parameter/);
  });
});
