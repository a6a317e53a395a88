/**
 * Several RabbitMQ nodes (docs/configuration.md §3): two fault proxies in front of the one
 * RabbitMQ stand for two nodes of a cluster. Connects go to the first node that answers, each
 * reconnect starts after the node tried last, and `check-mq` reports every node.
 */
import { expect, test } from "bun:test";
import { loadConfig } from "../../src/config/config.ts";
import { BrokerConnectError, connectBroker, connectNode } from "../../src/rabbitmq/broker.ts";
import { runBinary } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import type { FaultProxy } from "../support/proxy.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, MQ, waitFor } from "../support/services.ts";

const scope = testScope();

const node = (): Promise<FaultProxy> => scope.proxy(MQ);

const hosts = (...proxies: { port: number }[]) => proxies.map((proxy) => `127.0.0.1:${proxy.port}`).join(",");

test("connectBroker skips a refusing node, and the next connect starts after the node it used", async () => {
  const [a, b] = [await node(), await node()];
  const { mq } = loadConfig({ env: { RABBITMQ_HOST: hosts(a, b) } });
  a.refuse();
  const first = await connectBroker(mq, 3_000);
  scope.defer(() => first.close().catch(() => {}));
  expect([a.openConnections, b.openConnections]).toEqual([0, 1]);

  a.resume();
  const acceptedByB = b.acceptedConnections;
  const second = await connectBroker(mq, 3_000);
  scope.defer(() => second.close().catch(() => {}));
  // Started at a (after b, the node last used), so b was not even tried.
  expect(a.openConnections).toBe(1);
  expect(b.acceptedConnections).toBe(acceptedByB);
});

test("when every node fails, the error names each node (redacted) and why", async () => {
  const [a, b] = [await node(), await node()];
  const { mq } = loadConfig({ env: { RABBITMQ_HOST: hosts(a, b), RABBITMQ_PASSWORD: "Node-Sekr1t" } });
  a.refuse();
  b.refuse();
  const error = await connectBroker(mq, 3_000).then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BrokerConnectError);
  const message = (error as Error).message;
  expect(message).toStartWith("no RabbitMQ node could be used: ");
  expect(message).toContain(`amqp://guest:***@127.0.0.1:${a.port}: `);
  expect(message).toContain(`amqp://guest:***@127.0.0.1:${b.port}: `);
  expect(message).not.toContain("Node-Sekr1t");
});

test("a node that accepts and then says nothing costs one connect timeout, then the next node is used", async () => {
  const [a, b] = [await node(), await node()];
  const { mq } = loadConfig({ env: { RABBITMQ_HOST: hosts(a, b) } });
  a.stall();
  const started = Date.now();
  const connection = await connectBroker(mq, 1_000);
  scope.defer(() => connection.close().catch(() => {}));
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  expect(Date.now() - started).toBeLessThan(3_000);
  expect(b.openConnections).toBe(1);
});

test("connectNode bounds the handshake by the connect timeout", async () => {
  const a = await node();
  a.stall();
  const started = Date.now();
  const error = await connectNode(`amqp://guest:guest@127.0.0.1:${a.port}`, 500).then(
    () => null,
    (caught: Error) => caught,
  );
  expect(error?.message).toContain("ETIMEDOUT");
  expect(Date.now() - started).toBeLessThan(2_000);
});

test("run: connects through the second node while the first is down, and follows back to the first when the second goes", async () => {
  const rig = await scope.rig();
  const [a, b] = [await node(), await node()];
  a.refuse();
  const scheduler = rig.start({ RABBITMQ_HOST: hosts(a, b), SCHEDULER_MAX_RETRIES: "0" });
  await scheduler.waitForLine(/RabbitMQ connection established/, 15_000);
  expect(b.openConnections).toBeGreaterThan(0);
  await insertSchedules(rig.db.sql, [{ dueInMs: -100, intervalSeconds: 3600 }]);
  await waitFor("a message through the second node", () => rig.queue.messages.length === 1, 15_000);
  // The consumer gets the message before the broker's confirm has come back to the scheduler
  // through b. Cutting b in between leaves the fire's outcome unknown, so the scheduler rightly
  // sends it again, same message id, through a (docs/contract.md §4). Cut b only once the fire is
  // recorded, i.e. confirmed.
  await waitFor("the first fire recorded", async () => (await rig.rows())[0]?.run_count === 1, 15_000);

  a.resume();
  b.refuse();
  b.reset();
  await waitFor("a connection through the first node", () => a.openConnections > 0, 20_000);
  await insertSchedules(rig.db.sql, [{ dueInMs: -100, intervalSeconds: 3600 }]);
  await waitFor("a message through the first node", () => rig.queue.messages.length === 2, 20_000);
  expect(b.openConnections).toBe(0);
  expect(await rig.readyz()).toBe(200);
  expect(scheduler.proc.exitCode).toBeNull();
  expect(new Set(rig.messageIds()).size).toBe(2);
}, 60_000);

test("check-mq reports each node, and is ok when one works and the queue checks pass", async () => {
  const queue = await scope.queue();
  const dead = await freePort();
  const env = { RABBITMQ_QUEUE: queue.name, SCHEDULER_CONNECT_TIMEOUT: "5" };

  const some = await runBinary(["check-mq"], { ...env, RABBITMQ_HOST: `127.0.0.1:${dead},127.0.0.1:5672` });
  expect(some.code).toBe(0);
  expect(some.stdout.split("\n")).toEqual([
    expect.stringMatching(/^ok RabbitMQ \S+ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672 vhost "\/"$/),
    `  node amqp://guest:***@127.0.0.1:${dead}: down: RabbitMQ refused the connection at amqp://guest:***@127.0.0.1:${dead}; is it running and listening there? check RABBITMQ_HOST/RABBITMQ_PORT`,
    expect.stringMatching(/^ {2}node amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672: running, RabbitMQ \S+$/),
    "  tls 127.0.0.1:5672: not encrypted",
    `  queue "${queue.name}": classic, 0 message(s) ready, 0 consumer(s)`,
    "  note: no consumer is attached: messages will wait in the queue",
    "",
  ]);

  const json = await runBinary(["check-mq", "--json"], { ...env, RABBITMQ_HOST: `127.0.0.1:${dead},127.0.0.1:5672` });
  expect(JSON.parse(json.stdout)).toMatchObject({
    ok: true,
    queueState: "exists",
    queueType: "classic",
    nodes: [
      { where: `amqp://guest:***@127.0.0.1:${dead}`, ok: false, state: "down" },
      { where: "amqp://guest:***@127.0.0.1:5672", ok: true, state: "running" },
    ],
  });

  const none = await runBinary(["check-mq"], { ...env, RABBITMQ_HOST: `127.0.0.1:${dead},no-such-host.invalid` });
  expect(none.code).toBe(1);
  expect(none.stderr.split("\n")).toEqual([
    "FAILED no RabbitMQ node could be used (2 tried)",
    `  node amqp://guest:***@127.0.0.1:${dead}: down: RabbitMQ refused the connection at amqp://guest:***@127.0.0.1:${dead}; is it running and listening there? check RABBITMQ_HOST/RABBITMQ_PORT`,
    "  node amqp://guest:***@no-such-host.invalid:5672: down: RabbitMQ host in amqp://guest:***@no-such-host.invalid:5672 cannot be resolved; check RABBITMQ_HOST (or RABBITMQ_URL) and DNS",
    "",
  ]);
}, 30_000);
