import { describe, expect, test } from "bun:test";
import { brokerUrlProblem, HEARTBEAT_SECONDS } from "../../src/config/broker-url.ts";
import { ConfigError } from "../../src/config/config.ts";
import { brokerUrl } from "../../src/rabbitmq/broker.ts";
import { queueRecovery } from "../../src/rabbitmq/link.ts";

describe("brokerUrl", () => {
  test("adds our heartbeat and frame size when the URL sets neither", () => {
    const url = new URL(brokerUrl("amqp://rune:pw@mq:5672/prod"));
    expect(url.searchParams.get("heartbeat")).toBe(String(HEARTBEAT_SECONDS));
    expect(url.searchParams.get("frameMax")).toBe("131072");
  });

  test("keeps a heartbeat and frame size the URL sets", () => {
    const url = new URL(brokerUrl("amqp://rune:pw@mq:5672/prod?heartbeat=30&frameMax=8192"));
    expect([url.searchParams.get("heartbeat"), url.searchParams.get("frameMax")]).toEqual(["30", "8192"]);
  });

  // amqplib 2 reads heartbeat=0 as "heartbeats off" (0.10 took the broker's value for it).
  test("refuses heartbeat=0 with a ConfigError naming RABBITMQ_URL, password masked", () => {
    for (const value of ["0", "00", "0s"]) {
      const url = `amqp://rune:s3cret@mq:5672/prod?heartbeat=${value}`;
      expect(brokerUrlProblem(url)).not.toBeNull();
      let error: unknown;
      try {
        brokerUrl(url);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe("RABBITMQ_URL");
      expect((error as Error).message).not.toContain("s3cret");
    }
    expect(() => brokerUrl("amqp://rune:s3cret@mq:5672/prod?heartbeat=0")).toThrowErrorMatchingInlineSnapshot(
      `"RABBITMQ_URL="amqp://rune:***@mq:5672/prod?heartbeat=0" is invalid: expected no heartbeat=0 in the URL (it turns AMQP heartbeats off, so a silent broker is never noticed); omit it for 10 s, or give whole seconds of at least 1"`,
    );
  });

  test("accepts a positive heartbeat and a URL without one", () => {
    expect(brokerUrlProblem("amqp://mq?heartbeat=1")).toBeNull();
    expect(brokerUrlProblem("amqp://mq")).toBeNull();
  });
});

describe("queueRecovery (a batch returned NO_ROUTE)", () => {
  test("declares the queue when it was not declared lately", () => {
    expect(queueRecovery({ publishedAtMs: 1_000, declaredAtMs: Number.NEGATIVE_INFINITY, nowMs: 1_010 })).toBe(
      "declare",
    );
    expect(queueRecovery({ publishedAtMs: 20_000, declaredAtMs: 1_000, nowMs: 20_010 })).toBe("declare");
  });
  test("retries without declaring again a batch published before the last declaration (another lane's)", () => {
    expect(queueRecovery({ publishedAtMs: 1_000, declaredAtMs: 1_005, nowMs: 1_020 })).toBe("already declared");
  });
  test("fails the fires when the queue vanished again right after it was declared", () => {
    expect(queueRecovery({ publishedAtMs: 1_010, declaredAtMs: 1_005, nowMs: 1_030 })).toBe("vanished again");
  });
});
