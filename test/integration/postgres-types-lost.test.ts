/**
 * Proves the array-types part of patches/postgres+3.4.9.patch at the library level. postgres.js
 * fetches the array types on a new connection before it runs the query that opened it; unpatched,
 * a connection lost then (and not regained within connect_timeout) rejects that internal query
 * with nobody listening: an unhandled rejection, which ends `rune-scheduler run`. Patched, the
 * query that waits gets the error and nothing escapes.
 *
 * The connection runs in a child process (test/fixtures/postgres-types-lost-child.ts) so a crash
 * is an exit code. POSTGRES_TYPES_LIBRARY points the child at another copy of postgres.js (one
 * with `.catch(errored)` taken off fetchArrayTypes() fails here: exit 1, `unhandled rejection`).
 */
import { expect, test } from "bun:test";
import { testScope } from "../support/scope.ts";
import { PG } from "../support/services.ts";

const FIXTURE = new URL("../fixtures/postgres-types-lost-child.ts", import.meta.url).pathname;
const LIBRARY = process.env.POSTGRES_TYPES_LIBRARY ?? Bun.resolveSync("postgres", import.meta.dir);

const scope = testScope({ strictCleanup: true });

test("a connection lost while postgres.js fetches the array types fails the waiting query, not the process", async () => {
  const child = Bun.spawn([process.execPath, FIXTURE, LIBRARY, String(PG.port)], { stdout: "pipe", stderr: "pipe" });
  scope.defer(() => child.kill());
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: "" });
  expect(stdout.trim().split("\n")).toEqual(["rejected CONNECTION_CLOSED", "survived"]);
});
