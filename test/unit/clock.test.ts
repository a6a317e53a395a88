import { expect, test } from "bun:test";
import { backoffDelay } from "../../src/engine/backoff.ts";
import { createClock } from "../../src/engine/clock.ts";
import { explainBrokerError, explainDatabaseError } from "../../src/observe/diagnose.ts";

test("the clock follows the database, whatever the local clock says", () => {
  let local = 1_000_000; // a host clock far off the database's
  const clock = createClock(() => local);
  clock.observe(5_000_000, local - 2, local + 2);
  expect(clock.offsetMs()).toBe(4_000_000);
  expect(clock.now()).toBe(5_000_000);
  local += 250;
  expect(clock.msUntil(5_001_000)).toBe(750);
});

test("a blurry measurement (slow round trip) does not replace a sharp recent one", () => {
  let local = 0;
  const clock = createClock(() => local);
  clock.observe(100, -1, 1);
  local = 10;
  clock.observe(500, 10, 400);
  expect(clock.offsetMs()).toBe(100);
});

test("backoff: 1 s doubling to a 30 s cap, jittered within the upper half", () => {
  const low = [1, 2, 3, 4, 5, 6, 7, 10].map((n) => backoffDelay(n, () => 0));
  const high = [1, 2, 3, 4, 5, 6, 7, 10].map((n) => backoffDelay(n, () => 1));
  expect(high).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  expect(low).toEqual([500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000]);
});

test("database errors become one actionable line naming the place", () => {
  const place = { host: "db.internal", port: 5433, user: "rune", database: "rune" };
  expect(explainDatabaseError({ code: "ECONNREFUSED" }, place, 10_000)).toBe(
    "PostgreSQL refused the connection at db.internal:5433; is it running and listening there? check POSTGRES_HOST/POSTGRES_PORT",
  );
  expect(explainDatabaseError({ code: "28P01" }, place, 10_000)).toContain(
    'rejected the password for user "rune" at db.internal:5433',
  );
  expect(explainDatabaseError({ code: "3D000" }, place, 10_000)).toContain('database "rune" does not exist');
  expect(explainDatabaseError({ code: "ENOTFOUND" }, place, 10_000)).toContain('host "db.internal" cannot be resolved');
  expect(explainDatabaseError({ code: "CONNECT_TIMEOUT" }, place, 10_000)).toContain("did not answer within 10s");
  // An administrator's termination and a full server, named as such (not "closed the connection").
  expect(explainDatabaseError({ code: "57P01" }, place, 10_000)).toBe(
    "PostgreSQL at db.internal:5433 terminated our session (an administrator's pg_terminate_backend, or a fast shutdown); reconnecting",
  );
  expect(explainDatabaseError({ code: "53300" }, place, 10_000)).toContain(
    "PostgreSQL at db.internal:5433 is full: no free connection slots (max_connections reached)",
  );
});

test("broker errors become one actionable line", () => {
  const place = { where: "amqp://u:***@mq:5672/vh", vhost: "vh" };
  expect(
    explainBrokerError(new Error("Handshake terminated by server: 403 (ACCESS-REFUSED)"), place, 10_000),
  ).toContain("rejected the credentials");
  expect(
    explainBrokerError(
      new Error('Handshake terminated by server: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - vhost vh not found"'),
      place,
      10_000,
    ),
  ).toContain('refused vhost "vh"');
  expect(explainBrokerError({ code: "ECONNREFUSED", message: "x" }, place, 10_000)).toContain(
    "refused the connection at amqp://u:***@mq:5672/vh",
  );
  // A publish refused for want of write permission: not the credentials.
  expect(
    explainBrokerError(
      new Error(
        "refused: Channel closed by server: 403 (ACCESS-REFUSED) with message \"ACCESS_REFUSED - access to exchange 'amq.default' in vhost 'vh' refused for user 'u'\"",
      ),
      place,
      10_000,
    ),
  ).toBe(
    'RabbitMQ at amqp://u:***@mq:5672/vh refused to let user "u" publish (no write permission on exchange "amq.default", which publishes to the queue); give the user write permission (rabbitmqctl set_permissions)',
  );
});
