import { describe, expect, test } from "bun:test";
import { splitStatements } from "../../scripts/sql-statements.ts";

describe("splitStatements", () => {
  test("ends a statement at each semicolon outside strings, identifiers, dollar quotes and comments", () => {
    expect(
      splitStatements(`INSERT INTO t VALUES ('a;b', 'it''s;');
SELECT "odd;name" FROM t; -- trailing; comment
/* a /* nested; */ comment; */ SELECT $$x;y$$, $f$ $$ ; $f$;
SELECT E'back\\'slash;', $1
`),
    ).toEqual([
      "INSERT INTO t VALUES ('a;b', 'it''s;')",
      'SELECT "odd;name" FROM t',
      "-- trailing; comment\n/* a /* nested; */ comment; */ SELECT $$x;y$$, $f$ $$ ; $f$",
      "SELECT E'back\\'slash;', $1",
    ]);
  });

  test("drops empty and comment-only statements", () => {
    expect(splitStatements(";; -- nothing\n ; /* nor here */")).toEqual([]);
    expect(splitStatements("SELECT 1")).toEqual(["SELECT 1"]);
  });
});
