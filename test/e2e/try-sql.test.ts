/** `scripts/try.ts sql` reports each statement as PostgreSQL ran it, and shows values as the table holds them. */
import { beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { runCommand } from "../support/binary.ts";
import { sharedScope } from "../support/scope.ts";
import type { TestDatabase } from "../support/services.ts";

const ROOT = resolve(import.meta.dir, "../..");
const scope = sharedScope();
let db: TestDatabase;
beforeAll(async () => {
  db = await scope.database();
});

async function trySql(stdin: string) {
  const { code, stdout, stderr } = await runCommand([process.execPath, "scripts/try.ts", "sql"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", ...db.env },
    stdin,
  });
  return { code, stdout, stderr };
}

test("two INSERTs print two lines", async () => {
  const result = await trySql(`INSERT INTO workflows (name) VALUES ('a');
INSERT INTO workflows (name) VALUES ('b'), ('c');`);
  expect(result).toEqual({ code: 0, stdout: "INSERT 1\nINSERT 2\n", stderr: "" });
});

test("five statements print five results, rows as they are, -infinity and infinity included", async () => {
  const result = await trySql(`CREATE TABLE t (id int, at timestamp, note text);
INSERT INTO t VALUES (1, '-infinity', 'semi;colon in a string'), (2, 'infinity', $$dollar; quoted$$);
-- a comment; with a semicolon
INSERT INTO t VALUES (3, '2026-11-26 13:45:00', 'it''s');
UPDATE t SET note = note WHERE id > 1;
SELECT id, at, note FROM t ORDER BY id`);
  expect(result.stderr).toBe("");
  expect(result.stdout).toBe(`CREATE TABLE
INSERT 2
INSERT 1
UPDATE 2
{"id":1,"at":"-infinity","note":"semi;colon in a string"}
{"id":2,"at":"infinity","note":"dollar; quoted"}
{"id":3,"at":"2026-11-26 13:45:00","note":"it's"}
`);
});

test("a failing statement names its number and stops there", async () => {
  const result = await trySql("INSERT INTO workflows (name) VALUES ('x'); SELECT nope; SELECT 1 AS never");
  expect(result.code).toBe(1);
  expect(result.stdout).toBe("INSERT 1\n");
  expect(result.stderr).toBe('try: statement 2 failed: column "nope" does not exist\n');
});
