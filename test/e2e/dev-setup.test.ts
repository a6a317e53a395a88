/**
 * The first hour: `scripts/dev.sh --setup-only` writes a .env the other commands pick up, never
 * overwrites one, and installs a NOTIFY trigger that wakes the scheduler for the API's changes
 * but not for its own UPDATE after a fire. Run from a copy of scripts/ so the repository's own
 * .env (a developer's) is never touched; POSTGRES_DB names a database of this test's own.
 */
import { beforeAll, expect, test } from "bun:test";
import { cpSync, readFileSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { $ } from "bun";
import postgres from "postgres";
import { notifyTriggerSql } from "../../scripts/notify-trigger.ts";
import { runBinary } from "../support/binary.ts";
import { sharedScope } from "../support/scope.ts";
import { dropDatabase, PG, uniqueName } from "../support/services.ts";

const ROOT = resolve(import.meta.dir, "../..");
const database = uniqueName("rune_dev");
const scope = sharedScope();
let dir: string;
let first: { code: number; stdout: string; stderr: string };

const setup = async () => {
  const result = await $`bash scripts/dev.sh --setup-only`
    .cwd(dir)
    .env({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", POSTGRES_DB: database })
    .nothrow()
    .quiet();
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
};

beforeAll(async () => {
  dir = scope.tempDir("rune-dev-");
  // dev.sh creates the database, so the test drops it (before the directory goes).
  scope.defer(() => dropDatabase(database));
  cpSync(join(ROOT, "scripts"), join(dir, "scripts"), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  symlinkSync(join(ROOT, "src"), join(dir, "src"));
  first = await setup();
});

const ENV_FILE = (
  db: string,
) => `# Written by scripts/dev.sh for local development; rune-scheduler reads ./.env from the working
# directory, and the real environment wins over it. dev.sh never overwrites this file.
POSTGRES_HOST=127.0.0.1
POSTGRES_DB=${db}
RABBITMQ_HOST=127.0.0.1
SCHEDULER_NOTIFY_CHANNEL=rune_schedules
`;

test("dev.sh --setup-only writes .env, creates the database and the schema, installs the trigger, and says so", () => {
  expect(first.stderr).toBe("");
  expect(first.code).toBe(0);
  expect(readFileSync(join(dir, ".env"), "utf8")).toBe(ENV_FILE(database));
  expect(first.stdout).toContain(
    `dev.sh: wrote ${dir}/.env (POSTGRES_HOST, POSTGRES_DB, RABBITMQ_HOST, SCHEDULER_NOTIFY_CHANNEL)`,
  );
  expect(first.stdout).toContain(`init-db: created database ${database}`);
  expect(first.stdout).toContain(
    'init-db: trigger rune_schedules_notify installed: changes by the API NOTIFY "rune_schedules"',
  );
});

test("a second run leaves the existing .env alone and says so", async () => {
  const again = await setup();
  expect(again.code).toBe(0);
  expect(again.stdout).toContain("dev.sh: .env exists; leaving it as it is");
  expect(readFileSync(join(dir, ".env"), "utf8")).toBe(ENV_FILE(database));
});

test("the binary run from that directory picks the .env up (no variable set)", async () => {
  const { code, stdout } = await runBinary(["check-db"], {}, { cwd: dir });
  expect(stdout).toContain(`at postgres@127.0.0.1:5432/${database}`);
  expect(code).toBe(0);
});

test("the trigger notifies on the API's INSERT, not on an UPDATE made as application_name rune-scheduler", async () => {
  const listener = postgres({ ...PG, database, max: 1, onnotice: () => {} });
  const api = postgres({ ...PG, database, max: 1, onnotice: () => {}, connection: { application_name: "rune-api" } });
  const engine = postgres({
    ...PG,
    database,
    max: 1,
    onnotice: () => {},
    connection: { application_name: "rune-scheduler" },
  });
  try {
    const [trigger] =
      await listener`SELECT tgname FROM pg_trigger WHERE tgrelid = 'scheduled_workflows'::regclass AND NOT tgisinternal`;
    expect(trigger?.tgname).toBe("rune_schedules_notify");
    const received: string[] = [];
    let markerSeen!: () => void;
    const marker = new Promise<void>((resolve) => (markerSeen = resolve));
    await listener.listen("rune_schedules", (payload) => {
      received.push(payload);
      if (payload === "marker") markerSeen();
    });
    await api`INSERT INTO workflows (name) VALUES ('w')`;
    // Set-up row, written as the scheduler: that does not notify either.
    await engine`INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds) VALUES (1, now() AT TIME ZONE 'UTC', 60)`;
    await engine`UPDATE scheduled_workflows SET next_run_at = next_run_at + interval '1 minute', run_count = run_count + 1`;
    await api`INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds) VALUES (1, now() AT TIME ZONE 'UTC', 60)`;
    // Notifications reach a listener in commit order: once the marker is in, so is anything before it.
    await api`SELECT pg_notify('rune_schedules', 'marker')`;
    await marker;
    expect(received).toEqual(["", "marker"]);
  } finally {
    await Promise.all([listener.end({ timeout: 1 }), api.end({ timeout: 1 }), engine.end({ timeout: 1 })]);
  }
});

test("docs/design.md shows the trigger dev.sh installs, word for word", () => {
  expect(readFileSync(join(ROOT, "docs", "design.md"), "utf8")).toContain(
    `\`\`\`sql\n${notifyTriggerSql("rune_schedules")}\`\`\``,
  );
});
