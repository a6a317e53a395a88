/** What a missing queue is declared with, and a declaration that loses a race to another declarer. */
import { describe, expect, test } from "bun:test";
import type { ChannelModel } from "amqplib";
import type { BrokerConfig } from "../../src/config/values.ts";
import { brokerVersion, declareArguments, ensureQueue } from "../../src/rabbitmq/broker.ts";

describe("declareArguments", () => {
  test("a classic queue is version 2 from RabbitMQ 3.10 on", () => {
    for (const version of [
      [3, 10],
      [3, 13],
      [4, 0],
    ] as const)
      expect(declareArguments("classic", version)).toEqual({ "x-queue-type": "classic", "x-queue-version": 2 });
  });

  test("older or unknown brokers, and quorum queues, get the type alone", () => {
    expect(declareArguments("classic", [3, 9])).toEqual({ "x-queue-type": "classic" });
    expect(declareArguments("classic", null)).toEqual({ "x-queue-type": "classic" });
    expect(declareArguments("quorum", [3, 10])).toEqual({ "x-queue-type": "quorum" });
  });
});

/** A connection whose queue is missing at the check, and whose declaration answers with `declare`. */
function fakeConnection(version: string | undefined, declare: (args: unknown) => Promise<unknown>) {
  const declared: unknown[] = [];
  const channel = {
    on: () => {},
    close: async () => {},
    checkQueue: async () => Promise.reject(Object.assign(new Error("NOT_FOUND"), { code: 404 })),
    assertQueue: async (_name: string, options: { arguments: unknown }) => {
      declared.push(options.arguments);
      return declare(options.arguments);
    },
  };
  const connection = {
    connection: { serverProperties: version === undefined ? {} : { version } },
    createChannel: async () => channel,
  } as unknown as ChannelModel;
  return { connection, declared };
}

const mq = { queue: "q", queueType: "classic" } as BrokerConfig;

describe("ensureQueue", () => {
  test("declares a missing classic queue as version 2 on RabbitMQ 3.10", async () => {
    const { connection, declared } = fakeConnection("3.10.8", async () => ({}));
    expect(brokerVersion(connection)).toEqual([3, 10]);
    expect(await ensureQueue(connection, mq)).toBe("declared");
    expect(declared).toEqual([{ "x-queue-type": "classic", "x-queue-version": 2 }]);
  });

  test("a queue declared meanwhile with other arguments (406) is used, not an error", async () => {
    const refused = Object.assign(new Error("PRECONDITION_FAILED - inequivalent arg 'x-queue-version'"), {
      code: 406,
    });
    const { connection } = fakeConnection("3.10.8", () => Promise.reject(refused));
    expect(await ensureQueue(connection, mq)).toBe("existed");
  });

  test("any other refusal still fails", async () => {
    const denied = Object.assign(new Error("ACCESS_REFUSED"), { code: 403 });
    const { connection } = fakeConnection(undefined, () => Promise.reject(denied));
    await expect(ensureQueue(connection, mq)).rejects.toThrow("ACCESS_REFUSED");
  });
});
