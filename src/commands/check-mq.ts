import type { ChannelModel } from "amqplib";
import { defineCommand } from "citty";
import { connectBroker } from "../broker.ts";
import type { Config } from "../config.ts";
import { explainBrokerError } from "../diagnose.ts";
import { configArgs, jsonArg, printReport, withConfig } from "./shared.ts";

export interface BrokerReport {
  ok: boolean;
  where: string;
  vhost: string;
  queue: string;
  error?: string;
  serverVersion?: string;
  queueState?: "exists" | "missing";
  messages?: number;
  consumers?: number;
  notes: string[];
}

/** Connects and checks the vhost and the queue without changing anything. Never throws. */
export async function checkBroker(config: Config): Promise<BrokerReport> {
  const { mq } = config;
  const report: BrokerReport = { ok: false, where: mq.where, vhost: mq.vhost, queue: mq.queue, notes: [] };
  let connection: ChannelModel | null = null;
  try {
    connection = await connectBroker(mq, config.connectTimeoutMs);
    connection.on("error", () => {});
    const server = (connection.connection as unknown as { serverProperties?: { version?: string } }).serverProperties;
    report.serverVersion = server?.version;
    const found = await passiveCheck(connection, mq.queue);
    if (found === null) {
      report.queueState = "missing";
      report.notes.push(`queue "${mq.queue}" does not exist; \`run\` will declare it (durable, ${mq.queueType})`);
      report.ok = true;
    } else {
      report.queueState = "exists";
      report.messages = found.messageCount;
      report.consumers = found.consumerCount;
      const durability = await durabilityProblem(connection, mq.queue);
      if (durability) report.error = durability;
      else if (found.consumerCount === 0) report.notes.push("no consumer is attached: messages will wait in the queue");
      report.ok = durability === null;
    }
  } catch (error) {
    report.error = explainBrokerError(error, mq, config.connectTimeoutMs);
  } finally {
    await connection?.close().catch(() => {});
  }
  return report;
}

async function passiveCheck(connection: ChannelModel, queue: string) {
  const channel = await connection.createChannel();
  channel.on("error", () => {});
  try {
    const found = await channel.checkQueue(queue);
    await channel.close().catch(() => {});
    return found;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return null;
    throw error;
  }
}

/**
 * The scheduler publishes persistent messages and relies on them surviving a broker restart,
 * so an existing queue must be durable. A redeclaration tells us: the broker refuses it with
 * "inequivalent arg 'durable'" when the queue is transient. Other arguments are not compared:
 * an existing queue is used as it is.
 */
async function durabilityProblem(connection: ChannelModel, queue: string): Promise<string | null> {
  const channel = await connection.createChannel();
  channel.on("error", () => {});
  try {
    const probe = await channel.assertQueue(queue, { durable: true, arguments: {} }).then(
      () => null,
      (error: Error) => error.message,
    );
    await channel.close().catch(() => {});
    if (probe && /inequivalent arg 'durable'/.test(probe)) {
      return `queue "${queue}" exists but is not durable, so messages are lost when the broker restarts; delete it and let \`run\` declare it, or declare it durable (broker said: ${probe})`;
    }
    if (probe && /inequivalent arg 'exclusive'|RESOURCE_LOCKED/.test(probe)) {
      return `queue "${queue}" is exclusive to another connection and cannot be published to reliably (broker said: ${probe})`;
    }
    return null;
  } catch {
    return null;
  }
}

export function formatBrokerReport(report: BrokerReport): string {
  if (report.error && !report.queueState) return `FAILED ${report.error}`;
  const lines = [`${report.ok ? "ok" : "FAILED"} RabbitMQ ${report.serverVersion ?? "?"} at ${report.where} vhost "${report.vhost}"`];
  if (report.error) lines.push(`  error: ${report.error}`);
  if (report.queueState === "exists") {
    lines.push(`  queue "${report.queue}": ${report.messages} message(s) ready, ${report.consumers} consumer(s)`);
  }
  for (const note of report.notes) lines.push(`  note: ${note}`);
  return lines.join("\n");
}

export default defineCommand({
  meta: { name: "check-mq", description: "Check the RabbitMQ connection, vhost and queue (passively)" },
  args: { ...jsonArg, ...configArgs },
  async run({ args }) {
    process.exitCode = await withConfig(args, async (config) => printReport(await checkBroker(config), args.json, formatBrokerReport));
  },
});
