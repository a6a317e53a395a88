/**
 * Proves the #1208 part of patches/postgres+3.4.9.patch at the library level. Unpatched,
 * postgres.js 3.4.9 lets a transaction's callback go on after its connection is gone; the next
 * statement on that connection (the callback's own, or the ROLLBACK or COMMIT postgres.js sends
 * for it) is written from a setImmediate to a socket that is null, and the TypeError ends the
 * process: no promise can catch it (porsager/postgres#1208, fixed by PR #1209).
 *
 * The transactions run in a child process (test/fixtures/postgres-1208-child.ts) so a crash is
 * an exit code, not the end of this test run. POSTGRES_1208_LIBRARY points the child at another
 * copy of postgres.js (e.g. an unpatched one from `npm pack postgres@3.4.9`) to see it fail.
 */
import { describe, expect, test } from "bun:test";
import { testScope } from "../support/scope.ts";
import { PG } from "../support/services.ts";

const FIXTURE = new URL("../fixtures/postgres-1208-child.ts", import.meta.url).pathname;
const LIBRARY = process.env.POSTGRES_1208_LIBRARY ?? Bun.resolveSync("postgres", import.meta.dir);

const scope = testScope({ strictCleanup: true });

async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
      yield buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
    }
  }
  if (buffered) yield buffered;
}

interface Run {
  readonly exitCode: number | null;
  readonly stdout: string[];
  readonly stderr: string;
}

/**
 * Opens the two transactions in a child through a proxy, resets both connections (new ones are
 * refused meanwhile, as by a server that is down), lets the callbacks do `after`, then lets the
 * proxy forward again and has the child query the pool once more.
 */
async function twoTransactionsThenReset(
  after: "strand" | "throw" | "statement" | "parameter" | "commit",
): Promise<Run> {
  const proxy = await scope.proxy(PG);
  const child = Bun.spawn([process.execPath, FIXTURE, LIBRARY, String(proxy.port), after], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  scope.defer(() => child.kill());
  const stderr = new Response(child.stderr).text();
  const lines = linesOf(child.stdout);
  const stdout: string[] = [];
  /** Reads lines until `wanted`; false if the child's output ends first or `ms` runs out. */
  const until = async (wanted: string, ms: number) => {
    const deadline = Bun.sleep(ms).then(() => ({ done: true, value: undefined }) as const);
    for (;;) {
      const next = await Promise.race([lines.next(), deadline]);
      if (next.done) return false;
      stdout.push(next.value);
      if (next.value === wanted) return true;
    }
  };

  if (await until("ready", 10_000)) {
    proxy.refuse();
    proxy.reset();
    if (await until("settled", 10_000)) {
      proxy.resume();
      child.stdin.write("resumed\n");
      await child.stdin.flush();
      await until("survived", 10_000);
    }
  }
  const exitCode = await Promise.race([child.exited, Bun.sleep(5000).then(() => null)]);
  return { exitCode, stdout, stderr: await Promise.race([stderr, Bun.sleep(1000).then(() => "")]) };
}

function expectSurvived(run: Run, pool = "pool ok") {
  // On failure, show what the child said: the uncaught error is in stderr.
  expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: "" });
  expect(run.stdout).toContain("begin 0 rejected CONNECTION_CLOSED");
  expect(run.stdout).toContain("begin 1 rejected CONNECTION_CLOSED");
  expect(run.stdout).toContain(pool);
  expect(run.stdout.at(-1)).toBe("survived");
}

const TIMEOUT_MS = 30_000;

describe("postgres.js with two transactions open when their connections are reset", () => {
  test(
    "rejects both and survives when the callbacks issue nothing more (stranded, as claimBatch does)",
    async () => {
      expectSurvived(await twoTransactionsThenReset("strand"));
    },
    TIMEOUT_MS,
  );

  test(
    "survives the ROLLBACK postgres.js sends when a callback throws after the reset",
    async () => {
      const run = await twoTransactionsThenReset("throw");
      expectSurvived(run);
      expect(run.stdout).toContain("callback 0 rejected");
      expect(run.stdout).toContain("callback 1 rejected");
    },
    TIMEOUT_MS,
  );

  test(
    "rejects a statement a callback issues after the reset, catchably, and survives the COMMIT",
    async () => {
      const run = await twoTransactionsThenReset("statement");
      expectSurvived(run);
      expect(run.stdout).toContain("callback 0 statement rejected CONNECTION_CLOSED");
      expect(run.stdout).toContain("callback 1 statement rejected CONNECTION_CLOSED");
    },
    TIMEOUT_MS,
  );

  test(
    "survives the COMMIT postgres.js sends when a callback returns after the reset",
    async () => {
      const run = await twoTransactionsThenReset("commit");
      expectSurvived(run);
      expect(run.stdout).toContain("callback 0 fulfilled");
      expect(run.stdout).toContain("callback 1 fulfilled");
    },
    TIMEOUT_MS,
  );

  test(
    "rejects a statement with a parameter after the reset, catchably; the pool stays wedged",
    async () => {
      const run = await twoTransactionsThenReset("parameter");
      // Not fixed by the patch (upstream PR #1215's ground): such a statement makes postgres.js move
      // the closed connection to its "full" queue, where the pool never takes it again. The reason
      // claimBatch strands its callback rather than go on. If this starts to say "pool ok", an
      // upgrade fixed it: update docs/development.md, "Upstream patches".
      expectSurvived(run, "pool failed hang");
      expect(run.stdout).toContain("callback 0 statement rejected CONNECTION_CLOSED");
      expect(run.stdout).toContain("callback 1 statement rejected CONNECTION_CLOSED");
    },
    TIMEOUT_MS,
  );
});
