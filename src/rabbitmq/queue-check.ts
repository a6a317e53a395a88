/**
 * What `check-mq` asks a node, without changing anything: the handshake, the queue's counts, and
 * what redeclarations reveal of its durability and type.
 */
import type { ChannelModel } from "amqplib";
import type { BrokerConfig } from "../config/values.ts";
import type { TlsState } from "../tls/state.ts";
import { connectNode } from "./broker.ts";
import { tlsStateOf } from "./tls.ts";

/** One node's connection, opened by {@link openNode} and closed by {@link closeNode}. */
export type NodeConnection = ChannelModel;

/** Connects to one node (AMQP handshake done); its version as the server announced it, and its TLS. */
export async function openNode(
  url: string,
  connectTimeoutMs: number,
  security: Pick<BrokerConfig, "tls" | "auth"> = {},
): Promise<{ connection: NodeConnection; serverVersion: string | undefined; tls: TlsState }> {
  const connection = await connectNode(url, connectTimeoutMs, security);
  connection.on("error", () => {});
  const server = (connection.connection as unknown as { serverProperties?: { version?: string } }).serverProperties;
  return { connection, serverVersion: server?.version, tls: tlsStateOf(connection, security.tls) };
}

/** Closes a node's connection; a failure to close is not worth reporting. */
export async function closeNode(connection: NodeConnection): Promise<void> {
  await connection.close().catch(() => {});
}

/** The queue's counts by a passive declare, or null when it does not exist. */
export async function passiveCheck(connection: NodeConnection, queue: string) {
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
export async function durabilityProblem(connection: NodeConnection, queue: string): Promise<string | null> {
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

/**
 * The existing queue's type. AMQP has no query for it: a passive declare answers only counts.
 * A declaration with `x-queue-type` does tell: an existing queue of that type is left as it is,
 * one of another type is refused with "received 'X' but current is 'Y'". `declaredType` is the
 * one `run` declares, so even a queue deleted meanwhile would come back as `run` makes it.
 * Null when the broker answers neither way.
 */
export async function queueTypeOf(
  connection: NodeConnection,
  queue: string,
  declaredType: string,
): Promise<string | null> {
  const channel = await connection.createChannel();
  channel.on("error", () => {});
  try {
    await channel.assertQueue(queue, { durable: true, arguments: { "x-queue-type": declaredType } });
    await channel.close().catch(() => {});
    return declaredType;
  } catch (error) {
    return /inequivalent arg 'x-queue-type'.*current is '(\w+)'/.exec((error as Error).message)?.[1] ?? null;
  }
}
