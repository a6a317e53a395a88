/** SCHEDULER_NOTIFY_CHANNEL: a NOTIFY makes the scheduler claim at once; and no HTTP answer holds a secret. */
import { beforeAll, expect, test } from "bun:test";
import { freePort } from "../support/ports.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, type TestQueue, waitFor } from "../support/services.ts";

const SECRETS = {
  POSTGRES_PASSWORD: "Pg-Notify-Sekr1t",
  ENCRYPTION_KEY: "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
};

const scope = sharedScope();
let db: TestDatabase;
let queue: TestQueue;
let base: string;

beforeAll(async () => {
  ({ db, queue } = await scope.setup({ consume: true }));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    ...SECRETS,
    // Polls a minute apart: a fire within seconds can only come from the notification.
    SCHEDULER_POLL_INTERVAL: "60",
    SCHEDULER_NOTIFY_CHANNEL: "rune_schedules",
    SCHEDULER_HTTP_PORT: String(port),
  });
  await scheduler.waitForLine(/Listening for notifications on "rune_schedules"/);
  await scheduler.waitForLine(/RabbitMQ connection established/);
});

test("a NOTIFY on SCHEDULER_NOTIFY_CHANNEL claims a newly due row at once, not at the next poll", async () => {
  // Past the first poll, which found nothing: a fire now can only come from the notification.
  await waitFor("the first poll", async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return Number(/^rune_scheduler_checks_total (\d+)$/m.exec(text)?.[1] ?? 0) >= 1;
  });
  const [id] = await insertSchedules(db.sql, [{ dueInMs: -10, intervalSeconds: 3600 }]);
  const notifiedAt = Date.now();
  await db.sql`SELECT pg_notify('rune_schedules', '')`;
  const message = await waitFor("the message", () => queue.messages[0], 5_000);
  expect(message.body.schedule_id).toBe(id);
  expect(message.receivedAt - notifiedAt).toBeLessThan(2_000);
});

test("no HTTP endpoint answers with a secret", async () => {
  const bodies = await Promise.all(
    ["/healthz", "/readyz", "/metrics", "/stats"].map(async (path) => (await fetch(base + path)).text()),
  );
  const all = bodies.join("\n");
  expect(all).toContain("rune_scheduler_executions_total");
  for (const secret of Object.values(SECRETS)) expect(all).not.toContain(secret);
  expect(all).not.toContain("guest:guest");
});

test("SCHEDULER_NOTIFY_DATABASE_URL's TLS warnings are logged at start, as DATABASE_URL's are", async () => {
  const ca = `${scope.tempDir("notify-ca-")}/ca.pem`;
  await Bun.write(ca, "-----BEGIN CERTIFICATE-----\n");
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    ...SECRETS,
    SCHEDULER_HTTP_PORT: String(await freePort()),
    SCHEDULER_NOTIFY_CHANNEL: "rune_notify_tls",
    // A direct address whose CA is given under the default prefer: said at start.
    SCHEDULER_NOTIFY_DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${db.name}?sslrootcert=${ca}`,
  });
  await scheduler.waitForLine(/WARN.*sslrootcert in SCHEDULER_NOTIFY_DATABASE_URL is given, but sslmode is prefer/);
  await scheduler.stop();
});

test("LISTEN's own address down: the line names its host and SCHEDULER_NOTIFY_DATABASE_URL, never its password", async () => {
  const dead = await freePort();
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    ...SECRETS,
    SCHEDULER_HTTP_PORT: String(await freePort()),
    SCHEDULER_NOTIFY_CHANNEL: "rune_notify_down",
    // A password holding a literal @: its tail must not show up as a host.
    SCHEDULER_NOTIFY_DATABASE_URL: `postgres://postgres:Lis@ten7@127.0.0.1:${dead}/${db.name}`,
  });
  const line = await scheduler.waitForLine(/LISTEN on "rune_notify_down" waits for PostgreSQL/);
  expect(line).toContain(
    `PostgreSQL refused the connection at 127.0.0.1:${dead}; is it running and listening there? check the host and port in SCHEDULER_NOTIFY_DATABASE_URL; in effect: SCHEDULER_NOTIFY_DATABASE_URL=postgres://postgres:***@127.0.0.1:${dead}/${db.name} (from the environment)`,
  );
  expect(scheduler.output()).not.toMatch(/Lis|ten7/);
  await scheduler.stop();
});
