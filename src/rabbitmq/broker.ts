/**
 * RabbitMQ connections: the nodes tried in turn within the connect timeout, the queue ensured on
 * connect, and a ready publisher (src/rabbitmq/link.ts) on top.
 */

import amqp, { type ChannelModel } from "amqplib";
import { brokerUrlProblem, HEARTBEAT_SECONDS } from "../config/broker-url.ts";
import { ConfigError } from "../config/config.ts";
import { maskUrl } from "../config/redact.ts";
import type { BrokerConfig } from "../config/values.ts";
import { PublisherRefused } from "../engine/ports.ts";
import { messageOf } from "../error-text.ts";
import { tlsRegistry } from "../tls/registry.ts";
import type { TlsState } from "../tls/state.ts";
import { type BrokerLink, brokerLink } from "./link.ts";
import { connectionOptions, nodeHost, tlsStateOf } from "./tls.ts";

/**
 * One node's URL (from `BrokerConfig.urls`) with our heartbeat and frame size unless it sets them.
 * Throws a {@link ConfigError} naming RABBITMQ_URL for a URL {@link brokerUrlProblem} refuses.
 */
export function brokerUrl(nodeUrl: string): string {
  const problem = brokerUrlProblem(nodeUrl);
  if (problem !== null) throw new ConfigError("RABBITMQ_URL", JSON.stringify(maskUrl(nodeUrl)), problem);
  const url = new URL(nodeUrl);
  if (!url.searchParams.has("heartbeat")) url.searchParams.set("heartbeat", String(HEARTBEAT_SECONDS));
  // Larger frames cut the per-message framing overhead of big workflow documents.
  if (!url.searchParams.has("frameMax")) url.searchParams.set("frameMax", "131072");
  return url.toString();
}

/**
 * Opens one AMQP connection to one node, handshake included, within `connectTimeoutMs`.
 * amqplib's own `timeout` is an idle timer on the socket; the deadline also bounds a server that
 * keeps trickling bytes. A connection that opens after the deadline is closed at once.
 */
export async function connectNode(
  nodeUrl: string,
  connectTimeoutMs: number,
  security: Pick<BrokerConfig, "tls" | "auth"> = {},
): Promise<ChannelModel> {
  // Read here, at every connect: a rotated certificate, key or CA is used from the next one on.
  const tlsOptions = connectionOptions(nodeUrl, security.tls, security.auth);
  const opening = amqp.connect(brokerUrl(nodeUrl), {
    ...tlsOptions,
    timeout: connectTimeoutMs,
    noDelay: true,
    keepAlive: true,
    keepAliveDelay: 10_000,
    clientProperties: { connection_name: "rune-scheduler" },
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      opening.then(
        (late) => late.close().catch(() => {}),
        () => {},
      );
      reject(
        Object.assign(new Error(`connect ETIMEDOUT: no AMQP handshake within ${connectTimeoutMs} ms`), {
          code: "ETIMEDOUT",
        }),
      );
    }, connectTimeoutMs);
  });
  try {
    const connection = await Promise.race([opening, deadline]);
    // What this node's TLS is now, for every output that shows it (a rotation shows from here on).
    // Counted open until it closes, so the expiry gauge drops a node no longer connected to.
    tlsRegistry.record("rabbitmq", nodeHost(nodeUrl), tlsStateOf(connection, security.tls), connection);
    return connection;
  } finally {
    clearTimeout(timer);
  }
}

/** Every node failed; `message` names each node (redacted) and why. */
export class BrokerConnectError extends Error {
  /** Set when every node failed the same way (e.g. ECONNREFUSED), so callers can classify it. */
  readonly code?: string;
  constructor(readonly failures: readonly { where: string; error: unknown }[]) {
    super(`no RabbitMQ node could be used: ${failures.map((f) => `${f.where}: ${messageOf(f.error)}`).join("; ")}`);
    this.name = "BrokerConnectError";
    const codes = new Set(failures.map((f) => (f.error as { code?: unknown })?.code));
    const [only] = codes;
    if (codes.size === 1 && typeof only === "string") this.code = only;
  }
}

/** Per config: the node the next connect tries first. */
const nextNode = new WeakMap<BrokerConfig, number>();

/**
 * Connects to the first node that answers, trying each once. Every (re)connect starts from the
 * node after the one tried last, whether it worked or failed: the link being replaced most
 * likely died with its node, and a dead first node must not cost a timeout on every reconnect.
 * With one node, its own error is thrown as it is.
 */
export async function connectBroker(mq: BrokerConfig, connectTimeoutMs: number): Promise<ChannelModel> {
  return (await connectSomeNode(mq, connectTimeoutMs)).connection;
}

/** {@link connectBroker}, saying which node answered (its redacted URL). */
async function connectSomeNode(
  mq: BrokerConfig,
  connectTimeoutMs: number,
): Promise<{ connection: ChannelModel; where: string }> {
  const count = mq.urls.length;
  const first = nextNode.get(mq) ?? 0;
  const failures: { where: string; error: unknown }[] = [];
  for (let k = 0; k < count; k++) {
    const i = (first + k) % count;
    nextNode.set(mq, (i + 1) % count);
    try {
      return { connection: await connectNode(mq.urls[i]!, connectTimeoutMs, mq), where: mq.wheres[i]! };
    } catch (error) {
      failures.push({ where: mq.wheres[i]!, error });
    }
  }
  if (failures.length === 1) throw failures[0]!.error;
  throw new BrokerConnectError(failures);
}

/** The broker's version from its connection properties (`3.10.8` → [3, 10]), or null if it sends none. */
export function brokerVersion(connection: ChannelModel): [number, number] | null {
  const server = (connection as unknown as { connection?: { serverProperties?: { version?: unknown } } }).connection
    ?.serverProperties;
  const match = /^(\d+)\.(\d+)/.exec(String(server?.version ?? ""));
  return match ? [Number(match[1]), Number(match[2])] : null;
}

/**
 * The arguments a missing queue is declared with. A classic queue is version 2 on a broker that
 * has it (RabbitMQ 3.10 and later): its index and store cost the broker less CPU per persistent
 * message than version 1 (docs/performance.md). Older brokers would refuse the argument.
 */
export function declareArguments(
  queueType: BrokerConfig["queueType"],
  version: readonly [number, number] | null,
): Record<string, unknown> {
  const v2 = queueType === "classic" && version !== null && (version[0] > 3 || (version[0] === 3 && version[1] >= 10));
  return v2 ? { "x-queue-type": "classic", "x-queue-version": 2 } : { "x-queue-type": queueType };
}

/** AMQP 406: a queue of that name exists with other arguments. */
const PRECONDITION_FAILED = 406;

/**
 * Declares the queue only when it is missing: an existing queue is used as it is, whatever its
 * type or arguments, since the API or an operator may have declared it differently on purpose.
 * One declared by someone else between our check and our declaration (another replica, with
 * other arguments) makes the declaration fail with 406; that queue exists, so it is used.
 */
export async function ensureQueue(connection: ChannelModel, mq: BrokerConfig): Promise<"existed" | "declared"> {
  const probe = await connection.createChannel();
  probe.on("error", () => {}); // a 404 closes the channel; that is the answer we asked for
  try {
    await probe.checkQueue(mq.queue);
    await probe.close().catch(() => {});
    return "existed";
  } catch (error) {
    if ((error as { code?: number }).code !== 404) throw error;
  }
  const declare = await connection.createChannel();
  // A refused declare (403: no configure permission) closes this channel; unheard, amqplib
  // would raise it on the connection and take the publishing channel down with it.
  declare.on("error", () => {});
  try {
    await declare.assertQueue(mq.queue, {
      durable: true,
      arguments: declareArguments(mq.queueType, brokerVersion(connection)),
    });
  } catch (error) {
    if ((error as { code?: number }).code === PRECONDITION_FAILED) return "existed"; // the 406 closed the channel
    throw error;
  }
  await declare.close();
  return "declared";
}

/**
 * A refusal that retrying cannot cure: credentials (403 at the handshake), a vhost (530, or a
 * close instead of the expected ConnectionOpenOk, as amqplib reports a refused vhost), or a
 * missing queue that this user may not declare. Only the broker's own reply codes count, never
 * digits elsewhere (a port :31403, a size).
 */
function isBrokerRefusal(error: unknown): boolean {
  return /\b403 \(ACCESS-REFUSED\)|\b530 \(NOT-ALLOWED\)|ACCESS_REFUSED - Login was refused|PLAIN login refused|Expected ConnectionOpenOk|SASL mechanism \w+ is not provided/.test(
    messageOf(error),
  );
}

/** A failure to open the link as the engine needs to see it. */
export function publisherFailure(error: unknown): unknown {
  return isBrokerRefusal(error) ? new PublisherRefused(error) : error;
}

/** The engine's publisher port: {@link openBrokerLink}, with a refusal for good said as one. */
export async function connectPublisher(
  mq: BrokerConfig,
  connectTimeoutMs: number,
  onChange?: () => void,
): Promise<BrokerLink> {
  try {
    return await openBrokerLink(mq, connectTimeoutMs, onChange);
  } catch (error) {
    throw publisherFailure(error);
  }
}

/** The TLS of the last connection to a node (`host:port`, see nodeHost), or undefined before the first. */
export function rabbitmqTls(host: string): TlsState | undefined {
  return tlsRegistry.get("rabbitmq", host);
}

/**
 * Connects, ensures the queue and opens the confirm channel: a ready publisher. `onChange` is
 * called when the link is lost, blocked or unblocked (not when the scheduler closes it).
 */
export async function openBrokerLink(
  mq: BrokerConfig,
  connectTimeoutMs: number,
  onChange?: () => void,
): Promise<BrokerLink> {
  const { connection, where } = await connectSomeNode(mq, connectTimeoutMs);
  // An "error" event with no listener would throw; failures are reported through "close" and the link.
  connection.on("error", () => {});
  try {
    await ensureQueue(connection, mq);
    const channel = await connection.createConfirmChannel();
    return brokerLink({
      connection,
      channel,
      queue: mq.queue,
      redeclareQueue: () => ensureQueue(connection, mq),
      onChange,
      where,
    });
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
}
