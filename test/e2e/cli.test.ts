/** The compiled binary as an operator runs it: help, version, config errors, streams, secrets, .env. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary, startBinary } from "../support/binary.ts";
import { createTestDatabase, createTestQueue, insertSchedules, waitFor, type TestDatabase, type TestQueue } from "../support/services.ts";

const COMMANDS = ["run", "check-db", "check-mq", "stats", "healthcheck"] as const;
const plain = { NO_COLOR: "1" };

let db: TestDatabase;
let queue: TestQueue;
beforeAll(async () => {
  db = await createTestDatabase();
  queue = await createTestQueue();
});
afterAll(async () => {
  await queue.drop();
  await db.drop();
});

describe("help and version", () => {
  test("--version prints the package version and the commit it was built from", async () => {
    const { code, stdout } = await runBinary(["--version"], plain);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^0\.1\.0 \(commit [0-9a-f]{12}(-dirty)?\)$/);
  });

  test("--help lists every subcommand", async () => {
    const { code, stdout } = await runBinary(["--help"], plain);
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(stdout).toContain(command);
    expect(stdout).toContain("USAGE rune-scheduler run|check-db|check-mq|stats|healthcheck");
  });

  test("--help works on every subcommand and offers no flag for a secret", async () => {
    for (const command of COMMANDS) {
      const { code, stdout } = await runBinary([command, "--help"], plain);
      expect(code).toBe(0);
      expect(stdout).toContain(`rune-scheduler ${command}`);
      expect(stdout).not.toMatch(/password|encryption-key|database-url|rabbitmq-url/i);
    }
  });
});

describe("configuration errors", () => {
  test("SCHEDULER_POLL_INTERVAL=abc: every command exits 2 with one line naming the variable", async () => {
    for (const command of COMMANDS.filter((c) => c !== "healthcheck")) {
      const { code, stdout, stderr } = await runBinary([command], { ...plain, SCHEDULER_POLL_INTERVAL: "abc" });
      expect({ command, code }).toEqual({ command, code: 2 });
      expect(stdout).toBe("");
      expect(stderr).toBe(
        'rune-scheduler: configuration error: SCHEDULER_POLL_INTERVAL="abc" is invalid: expected a number of seconds from 0.001 to 2147483.647\n',
      );
    }
  });

  test("healthcheck answers a bad config with 1 (SPEC §6: 0 healthy, 1 not; Docker reserves 2), naming the variable", async () => {
    const { code, stdout, stderr } = await runBinary(["healthcheck"], { ...plain, SCHEDULER_POLL_INTERVAL: "abc" });
    expect(code).toBe(1);
    expect(stdout + stderr).toContain('SCHEDULER_POLL_INTERVAL="abc" is invalid: expected a number of seconds from 0.001 to 2147483.647');
  });

  test("a bad value is refused before any connection is tried", async () => {
    // An unroutable host would make a connection attempt hang; exit 2 must come at once.
    const started = performance.now();
    const { code } = await runBinary(["run"], { POSTGRES_HOST: "10.255.255.1", LOG_FORMAT: "yaml" });
    expect(code).toBe(2);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test("a CLI flag overrides the environment", async () => {
    const { code, stderr } = await runBinary(["check-db", "--poll-interval", "0"], { SCHEDULER_POLL_INTERVAL: "5" });
    expect(code).toBe(2);
    expect(stderr).toContain('SCHEDULER_POLL_INTERVAL="0" is invalid');
  });

  test("a .env file in the working directory is honoured, and the environment beats it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rune-env-"));
    writeFileSync(join(dir, ".env"), `POSTGRES_HOST=127.0.0.1\nPOSTGRES_DB=${db.name}\nSCHEDULER_BATCH_SIZE=0\n`);
    const bad = await runBinary(["check-db"], {}, { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('SCHEDULER_BATCH_SIZE="0" is invalid');
    const good = await runBinary(["check-db"], { SCHEDULER_BATCH_SIZE: "10" }, { cwd: dir });
    expect(good.stdout).toContain(`at postgres@127.0.0.1:5432/${db.name}`);
    expect(good.code).toBe(0);
  });
});

describe("log streams and secrets", () => {
  const SECRETS = {
    POSTGRES_PASSWORD: "Pg-Sekr1t-zq9",
    RABBITMQ_PASSWORD: "Mq-Sekr1t-zq9",
    ENCRYPTION_KEY: "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
  };
  const leaks = (text: string) => Object.values(SECRETS).filter((secret) => text.includes(secret));

  test("INFO goes to stdout and ERROR/CRITICAL to stderr; no secret appears in any command's output", async () => {
    const failing = { ...SECRETS, POSTGRES_HOST: "127.0.0.1", POSTGRES_PORT: "1", RABBITMQ_HOST: "127.0.0.1", RABBITMQ_PORT: "1", SCHEDULER_MAX_RETRIES: "1", LOG_LEVEL: "debug" };
    const run = await runBinary(["run"], failing);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^\S+Z INFO rune-scheduler 0\.1\.0/m);
    expect(run.stdout).not.toMatch(/ (ERROR|CRITICAL|WARNING) /);
    expect(run.stderr).toMatch(/^\S+Z CRITICAL PostgreSQL failed 1 consecutive times; giving up/m);
    expect(run.stderr).not.toMatch(/ INFO /);
    const outputs = [run.stdout, run.stderr];
    for (const command of ["check-db", "check-mq", "stats", "healthcheck", "--help"]) {
      const result = await runBinary([command], failing);
      outputs.push(result.stdout, result.stderr);
    }
    const urls = { DATABASE_URL: `postgres://u:${SECRETS.POSTGRES_PASSWORD}@127.0.0.1:1/x`, RABBITMQ_URL: `amqp://u:${SECRETS.RABBITMQ_PASSWORD}@127.0.0.1:1/vh` };
    for (const command of ["check-db", "check-mq", "--help"]) {
      const result = await runBinary([command, "--json"], urls);
      outputs.push(result.stdout, result.stderr);
    }
    const bad = await runBinary(["run"], { DATABASE_URL: `mysql://u:${SECRETS.POSTGRES_PASSWORD}@h/db` });
    outputs.push(bad.stdout, bad.stderr);
    expect(leaks(outputs.join("\n"))).toEqual([]);
  });

  test("a running scheduler at DEBUG, sealing messages, logs neither the key nor the clear workflow_data", async () => {
    await insertSchedules(db.sql, [{ dueInMs: -10, intervalSeconds: 3600, data: { token: "clear-Sekr1t-data" } }]);
    await queue.consume();
    // guest's real password is needed to publish; the other secrets are as distinctive as above.
    const { RABBITMQ_PASSWORD: _, ...secrets } = SECRETS;
    const scheduler = startBinary(["run"], { ...db.env, ...queue.env, ...secrets, LOG_LEVEL: "DEBUG", LOG_FORMAT: "json" });
    try {
      await waitFor("the message", () => queue.messages[0]);
      expect(queue.messages[0]!.body).toHaveProperty("workflow_data_encrypted");
      expect(await scheduler.stop("SIGTERM")).toBe(0);
      const output = scheduler.output();
      expect(leaks(output)).toEqual([]);
      expect(output).not.toContain("clear-Sekr1t-data");
      for (const line of output.trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow();
      expect(output).toContain('"msg":"Database connection pool established"');
    } finally {
      await scheduler.stop("SIGKILL");
    }
  });
});
