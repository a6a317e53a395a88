/** `check-db` and `check-mq`: every failure mode names the cause, the place and what to try. */
import { beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { $ } from "bun";
import { runBinary } from "../support/binary.ts";
import { sharedScope } from "../support/scope.ts";
import { createTestDatabase, type TestDatabase, type TestQueue, uniqueName } from "../support/services.ts";

const scope = sharedScope();
let db: TestDatabase;
beforeAll(async () => {
  db = await scope.database();
});

const checkDb = (env: Record<string, string>, args: string[] = []) =>
  runBinary(["check-db", ...args], { SCHEDULER_CONNECT_TIMEOUT: "10", ...env });

describe("check-db", () => {
  test("a fresh database loaded with scripts/schema.sql prints ok and exits 0", async () => {
    const { code, stdout } = await checkDb(db.env);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^ok PostgreSQL \\d+\\.\\d+.* at postgres@127\\.0\\.0\\.1:5432/${db.name}\\n`));
    expect(stdout).toContain("schedules: 0 total, 0 active, 0 inactive, 0 due now");
  });

  test("--json prints one document with the counts and invalid rows by reason", async () => {
    const fresh = await createTestDatabase();
    try {
      await fresh.sql`INSERT INTO workflows (id, name) VALUES (1, 'w')`;
      await fresh.sql`INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds, is_active) VALUES
        (1, now(), 60, true), (1, now(), 0, true), (1, now(), NULL, true), (1, NULL, 60, true), (99, now(), 60, true), (1, now(), 60, false),
        (1, '-infinity', 60, true), (1, 'infinity', 60, true)`;
      const { code, stdout } = await checkDb(fresh.env, ["--json"]);
      expect(code).toBe(0);
      const report = JSON.parse(stdout);
      expect(report.counts).toEqual({
        total: 8,
        active: 7,
        inactive: 1,
        dueNow: 1,
        invalid: {
          "workflow missing": 1,
          "interval_seconds is NULL": 1,
          "interval_seconds <= 0": 1,
          "next_run_at is NULL": 1,
          "next_run_at is not finite": 2,
        },
      });
      expect(report.warnings).toContain(
        "2 active schedule(s) are invalid (next_run_at is not finite) and will not fire until fixed",
      );
      expect(report.warnings).toContain(
        "1 active schedule(s) are invalid (workflow missing) and will not fire until fixed",
      );
    } finally {
      await fresh.drop();
    }
  });

  test("POSTGRES_PORT=1: exits 1 within 10 s naming 127.0.0.1:1", async () => {
    const started = performance.now();
    const { code, stderr } = await checkDb({ POSTGRES_HOST: "127.0.0.1", POSTGRES_PORT: "1" });
    expect(code).toBe(1);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(stderr).toBe(
      "FAILED PostgreSQL refused the connection at 127.0.0.1:1; is it running and listening there? check POSTGRES_HOST/POSTGRES_PORT; in effect: POSTGRES_HOST=127.0.0.1, POSTGRES_PORT=1 (from the environment)\n",
    );
  });

  test("an unresolvable host", async () => {
    const { code, stderr } = await checkDb({ POSTGRES_HOST: "no-such-host.invalid" });
    expect(code).toBe(1);
    expect(stderr).toContain(
      'PostgreSQL host "no-such-host.invalid" cannot be resolved; check POSTGRES_HOST (or DATABASE_URL) and DNS',
    );
  });

  test("sslmode=require against a server without TLS says so and what to set", async () => {
    const [{ ssl }] = (await db.sql`SHOW ssl`) as unknown as [{ ssl: string }];
    const { code, stderr } = await checkDb({
      DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${db.name}?sslmode=require`,
    });
    if (ssl === "on") {
      expect(code).toBe(0); // this server speaks TLS: "require" encrypts and succeeds
      return;
    }
    expect(code).toBe(1);
    expect(stderr).toBe(
      "FAILED PostgreSQL at 127.0.0.1:5432 does not offer TLS, but sslmode=require from sslmode in DATABASE_URL requires it; turn ssl on at the server, or set sslmode=prefer to allow plain text\n",
    );
    const prefer = await checkDb({ DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${db.name}?sslmode=prefer` });
    expect(prefer.code).toBe(0);
  });

  test("a password holding a literal @: the host is right and no part of the password is shown", async () => {
    // This server trusts 127.0.0.1, so any password connects: what matters is the host it reaches.
    const url = `postgres://postgres:Pass@Word9@127.0.0.1:5432/${db.name}`;
    const text = await checkDb({ DATABASE_URL: url });
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`at postgres@127.0.0.1:5432/${db.name}`);
    const json = await checkDb({ DATABASE_URL: url }, ["--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).where).toBe(`postgres@127.0.0.1:5432/${db.name}`);
    // Unreachable: the error names the host and port, the "in effect" line hides the password.
    const down = await checkDb({ DATABASE_URL: `postgres://postgres:Pass@Word9@127.0.0.1:1/${db.name}` });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("127.0.0.1:1");
    for (const out of [text, json, down]) expect(out.stdout + out.stderr).not.toMatch(/Pass|Word9/);
  });

  test("a missing database", async () => {
    const { code, stderr } = await checkDb({ POSTGRES_HOST: "127.0.0.1", POSTGRES_DB: "rune_no_such_db" });
    expect(code).toBe(1);
    expect(stderr).toContain(
      'PostgreSQL database "rune_no_such_db" does not exist at 127.0.0.1:5432; create it (createdb rune_no_such_db) or set POSTGRES_DB',
    );
  });

  test("a wrong password (a password-protected role, removed afterwards)", async () => {
    // This server trusts 127.0.0.1, so one hba line asks this one role for a password.
    const role = uniqueName("rune_pw");
    const hba = `/etc/postgresql/${readdirSync("/etc/postgresql")[0]}/main/pg_hba.conf`;
    const original = readFileSync(hba, "utf8");
    await db.sql.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'right-password'`);
    try {
      writeFileSync(hba, `host all ${role} 127.0.0.1/32 scram-sha-256\n${original}`);
      await db.sql`SELECT pg_reload_conf()`;
      const env = { POSTGRES_HOST: "127.0.0.1", POSTGRES_DB: db.name, POSTGRES_USER: role };
      const wrong = await checkDb({ ...env, POSTGRES_PASSWORD: "wrong-password" });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain(
        `PostgreSQL rejected the password for user "${role}" at 127.0.0.1:5432; check POSTGRES_PASSWORD`,
      );
      expect(wrong.stderr + wrong.stdout).not.toContain("wrong-password");
      const right = await checkDb({ ...env, POSTGRES_PASSWORD: "right-password" });
      expect(right.stderr).toContain(
        `PostgreSQL user "${role}" lacks a privilege at 127.0.0.1:5432 (permission denied`,
      );
      expect(right.code).toBe(1);
      await db.sql.unsafe(`GRANT SELECT, UPDATE ON scheduled_workflows, workflows TO ${role}`);
      expect((await checkDb({ ...env, POSTGRES_PASSWORD: "right-password" })).code).toBe(0);
    } finally {
      writeFileSync(hba, original);
      await db.sql`SELECT pg_reload_conf()`;
      await db.sql.unsafe(`DROP OWNED BY ${role}`).catch(() => {});
      await db.sql.unsafe(`DROP ROLE IF EXISTS ${role}`);
    }
  });

  test("missing table, missing column and wrong column type are each named", async () => {
    const broken = await createTestDatabase({ schema: false });
    try {
      const none = await checkDb(broken.env);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain(
        "error: table scheduled_workflows is missing; load scripts/schema.sql or run the Rune API migrations",
      );
      await broken.sql.unsafe(readFileSync("scripts/schema.sql", "utf8"));
      await broken.sql`ALTER TABLE scheduled_workflows DROP COLUMN last_error`;
      await broken.sql`ALTER TABLE scheduled_workflows ALTER COLUMN interval_seconds TYPE text`;
      const bad = await checkDb(broken.env);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("error: column scheduled_workflows.last_error is missing (expected text)");
      expect(bad.stderr).toContain(
        "error: column scheduled_workflows.interval_seconds has type text, expected integer or bigint or smallint",
      );
    } finally {
      await broken.drop();
    }
  });

  test("a missing recommended index is a warning with the exact statement, exit 0", async () => {
    const noIndex = await createTestDatabase();
    try {
      await noIndex.sql`DROP INDEX scheduled_workflows_due_idx`;
      const { code, stdout } = await checkDb(noIndex.env);
      expect(code).toBe(0);
      expect(stdout).toContain(
        "warning: no index on scheduled_workflows (next_run_at); every poll scans the table. Create it: CREATE INDEX CONCURRENTLY scheduled_workflows_due_idx ON scheduled_workflows (next_run_at) WHERE is_active;",
      );
    } finally {
      await noIndex.drop();
    }
  });
});

describe("check-mq", () => {
  let queue: TestQueue;
  beforeAll(async () => {
    queue = await scope.queue();
  });
  const checkMq = (env: Record<string, string>, args: string[] = []) =>
    runBinary(["check-mq", ...args], { SCHEDULER_CONNECT_TIMEOUT: "10", ...env });

  test("an existing queue: ok with depth and consumers", async () => {
    const { code, stdout } = await checkMq(queue.env, ["--json"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      ok: true,
      queue: queue.name,
      queueState: "exists",
      messages: 0,
      consumers: 0,
      vhost: "/",
    });
  });

  test("a missing queue: reports it would be declared, exit 0", async () => {
    const { code, stdout } = await checkMq({
      ...queue.env,
      RABBITMQ_QUEUE: "rune_missing_q",
      RABBITMQ_QUEUE_TYPE: "quorum",
    });
    expect(code).toBe(0);
    expect(stdout).toContain('note: queue "rune_missing_q" does not exist; `run` will declare it (durable, quorum)');
  });

  test("a refused port", async () => {
    const { code, stderr } = await checkMq({ RABBITMQ_HOST: "127.0.0.1", RABBITMQ_PORT: "1" });
    expect(code).toBe(1);
    expect(stderr).toBe(
      "FAILED RabbitMQ refused the connection at amqp://guest:***@127.0.0.1:1; is it running and listening there? check RABBITMQ_HOST/RABBITMQ_PORT; in effect: RABBITMQ_HOST=127.0.0.1, RABBITMQ_PORT=1 (from the environment)\n",
    );
  });

  test("a refused port given by RABBITMQ_URL: the line names RABBITMQ_URL, the setting in use", async () => {
    const { code, stderr } = await checkMq({ RABBITMQ_URL: "amqp://guest:Gu@st9@127.0.0.1:1" });
    expect(code).toBe(1);
    expect(stderr).toBe(
      "FAILED RabbitMQ refused the connection at amqp://guest:***@127.0.0.1:1; is it running and listening there? check the host and port in RABBITMQ_URL; in effect: RABBITMQ_URL=amqp://guest:***@127.0.0.1:1 (from the environment)\n",
    );
    const unknown = await checkMq({ RABBITMQ_URL: "amqp://guest:guest@no-such-host.invalid" });
    expect(unknown.stderr).toContain("cannot be resolved; check the host in RABBITMQ_URL and DNS");
  });

  test("an unresolvable host", async () => {
    const { code, stderr } = await checkMq({ RABBITMQ_HOST: "no-such-host.invalid" });
    expect(code).toBe(1);
    expect(stderr).toContain("cannot be resolved; check RABBITMQ_HOST (or RABBITMQ_URL) and DNS");
  });

  test("a wrong vhost", async () => {
    const { code, stderr } = await checkMq({
      RABBITMQ_URL: "amqp://guest:guest@127.0.0.1:5672/rune-no-such-vhost",
      RABBITMQ_QUEUE: queue.name,
    });
    expect(code).toBe(1);
    expect(stderr).toContain('refused vhost "rune-no-such-vhost": it does not exist or the user may not use it');
    expect(stderr).not.toContain("guest:guest");
  });

  test("a wrong password (a user made for the test, removed afterwards)", async () => {
    const user = uniqueName("rune_mq");
    await $`rabbitmqctl -q add_user ${user} right-password`.quiet();
    try {
      const { code, stderr } = await checkMq({
        RABBITMQ_HOST: "127.0.0.1",
        RABBITMQ_USER: user,
        RABBITMQ_PASSWORD: "wrong-password",
      });
      expect(code).toBe(1);
      expect(stderr).toContain(
        "RabbitMQ rejected the credentials at amqp://" +
          user +
          ":***@127.0.0.1:5672; check RABBITMQ_USER and RABBITMQ_PASSWORD",
      );
      expect(stderr).not.toContain("wrong-password");
    } finally {
      await $`rabbitmqctl -q delete_user ${user}`.quiet().nothrow();
    }
  });

  test("a queue declared incompatibly (not durable) fails with the broker's reason", async () => {
    const name = uniqueName("rune_transient");
    const channel = await queue.connection.createChannel();
    await channel.assertQueue(name, { durable: false });
    try {
      const { code, stderr } = await checkMq({ ...queue.env, RABBITMQ_QUEUE: name });
      expect(code).toBe(1);
      expect(stderr).toContain(
        `error: queue "${name}" exists but is not durable, so messages are lost when the broker restarts`,
      );
      expect(stderr).toContain("inequivalent arg 'durable'");
    } finally {
      const cleanup = await queue.connection.createChannel();
      await cleanup.deleteQueue(name);
    }
  });
});
