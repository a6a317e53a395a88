import { defineCommand } from "citty";
import type { Config } from "../config/config.ts";
import { explainBrokerError } from "../observe/diagnose.ts";
import {
  closeNode,
  durabilityProblem,
  type NodeConnection,
  openNode,
  passiveCheck,
  queueTypeOf,
} from "../rabbitmq/queue-check.ts";
import { nodeHost } from "../rabbitmq/tls.ts";
import { describeTls } from "../tls/registry.ts";
import type { TlsState } from "../tls/state.ts";
import { connectArgs, jsonArg, logArgs, mqArgs, printReport, withConfig } from "./shared.ts";

/** One configured node: reachable (AMQP handshake done) or why not. */
interface BrokerNodeReport {
  where: string;
  ok: boolean;
  /** running: the handshake completed; not answering: it timed out (a hung node); down: refused or unreachable. */
  state: "running" | "not answering" | "down";
  serverVersion?: string;
  /** The connection's TLS, once it opened. */
  tls?: TlsState;
  error?: string;
}

interface BrokerReport {
  ok: boolean;
  /** The node the queue was checked through (every node's, joined, if none answered). */
  where: string;
  vhost: string;
  queue: string;
  error?: string;
  serverVersion?: string;
  /** The TLS each node that answered negotiated (src/tls/state.ts), as check-db shows its hosts'. */
  tls?: ({ host: string } & TlsState)[];
  queueState?: "exists" | "missing";
  /** x-queue-type of the existing queue (classic, quorum, stream), as a redeclaration reveals it. */
  queueType?: string;
  messages?: number;
  consumers?: number;
  nodes: BrokerNodeReport[];
  notes: string[];
}

/**
 * Connects to every node (a dead one is worth knowing about before a failover needs it), then
 * checks the vhost and the queue through the first that answered, without changing anything.
 * Ok when at least one node works and the queue checks pass. Never throws.
 */
async function checkBroker(config: Config): Promise<BrokerReport> {
  const { mq } = config;
  const report: BrokerReport = { ok: false, where: mq.where, vhost: mq.vhost, queue: mq.queue, nodes: [], notes: [] };
  // In parallel, so several unreachable nodes cost one connect timeout, not one each.
  const attempts = await Promise.all(mq.urls.map((url, i) => probeNode(url, mq.wheres[i]!, config)));
  report.nodes = attempts.map((attempt) => attempt.node);
  const usable = attempts.filter((attempt) => attempt.connection !== null);
  for (const spare of usable.slice(1)) await closeNode(spare.connection!);
  const connection = usable[0]?.connection ?? null;
  if (connection === null) {
    report.error =
      report.nodes.length === 1
        ? report.nodes[0]!.error
        : `no RabbitMQ node could be used (${report.nodes.length} tried)`;
    return report;
  }
  report.where = usable[0]!.node.where;
  report.serverVersion = usable[0]!.node.serverVersion;
  report.tls = usable.map(({ node, host }) => ({ host, ...(node.tls ?? { encrypted: false }) }));
  report.notes.push(...(mq.warnings ?? []));
  try {
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
      report.queueType = (await queueTypeOf(connection, mq.queue, mq.queueType)) ?? undefined;
      if (report.queueType === "quorum") report.notes.push(quorumLeaderNote(mq.queue));
      if (durability) report.error = durability;
      else if (found.consumerCount === 0) report.notes.push("no consumer is attached: messages will wait in the queue");
      report.ok = durability === null;
    }
  } catch (error) {
    report.error = explainBrokerError(
      error,
      { where: report.where, vhost: mq.vhost, origin: mq.origin, urlName: mq.urlName },
      config.connectTimeoutMs,
    );
  } finally {
    await closeNode(connection);
  }
  return report;
}

async function probeNode(
  url: string,
  where: string,
  config: Config,
): Promise<{ node: BrokerNodeReport; connection: NodeConnection | null; host: string }> {
  const host = nodeHost(url);
  try {
    const { connection, serverVersion, tls } = await openNode(url, config.connectTimeoutMs, config.mq);
    return { node: { where, ok: true, state: "running", serverVersion, tls }, connection, host };
  } catch (error) {
    // One node's failure is the whole answer: say where its address came from. With several, each line would repeat it.
    const origin = config.mq.urls.length === 1 ? config.mq.origin : undefined;
    const { vhost, tls, auth, urlName } = config.mq;
    const place = { where, vhost, origin, tls, auth, urlName };
    const explained = explainBrokerError(error, place, config.connectTimeoutMs);
    const state = (error as { code?: string }).code === "ETIMEDOUT" ? "not answering" : "down";
    return { node: { where, ok: false, state, error: explained }, connection: null, host };
  }
}

/** AMQP cannot name a quorum queue's leader or members; where to see them. */
function quorumLeaderNote(queue: string): string {
  return `quorum queue: its leader and members are not visible over AMQP; see them with \`rabbitmq-queues quorum_status ${queue}\` on any node, or the management API (GET /api/queues/<vhost>/${queue}: leader, members)`;
}

function formatBrokerReport(report: BrokerReport): string {
  // With one node its line is the report; with several, each gets its own.
  const nodeLines =
    report.nodes.length > 1
      ? report.nodes.map((node) =>
          node.ok
            ? `  node ${node.where}: running, RabbitMQ ${node.serverVersion ?? "?"}`
            : `  node ${node.where}: ${node.state}: ${node.error}`,
        )
      : [];
  if (report.error && !report.queueState) return [`FAILED ${report.error}`, ...nodeLines].join("\n");
  const lines = [
    `${report.ok ? "ok" : "FAILED"} RabbitMQ ${report.serverVersion ?? "?"} at ${report.where} vhost "${report.vhost}"`,
    ...nodeLines,
    ...(report.tls ?? []).map(({ host, ...state }) => `  tls ${host}: ${describeTls(state)}`),
  ];
  if (report.error) lines.push(`  error: ${report.error}`);
  if (report.queueState === "exists") {
    const type = report.queueType === undefined ? "" : `${report.queueType}, `;
    lines.push(
      `  queue "${report.queue}": ${type}${report.messages} message(s) ready, ${report.consumers} consumer(s)`,
    );
  }
  for (const note of report.notes) lines.push(`  note: ${note}`);
  return lines.join("\n");
}

export default defineCommand({
  meta: { name: "check-mq", description: "Check the RabbitMQ connection, vhost and queue (passively)" },
  args: { ...jsonArg, ...mqArgs, ...connectArgs, ...logArgs },
  async run({ args }) {
    process.exitCode = await withConfig(args, async (config) =>
      printReport(await checkBroker(config), args.json, formatBrokerReport, config.secrets),
    );
  },
});
