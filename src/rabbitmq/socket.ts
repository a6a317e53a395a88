/** The socket under an amqplib connection: cut it, close politely within a bound, wait for it to drain. */
import type { ChannelModel, ConfirmChannel } from "amqplib";

/** A close handshake not finished by then is cut: a dead or stalled link never sends CloseOk. */
const CLOSE_TIMEOUT_MS = 2_000;

/**
 * Ends the socket under an amqplib connection with an error, which amqplib treats as a lost
 * socket: it stops its heartbeat timers and emits "error" and "close". (A polite close waits for
 * a CloseOk that a dead link never sends, and keeps the socket and its buffers meanwhile.)
 */
export function cutSocket(connection: ChannelModel, reason: string): void {
  const internal = connection as unknown as { connection?: { stream?: { destroy(error?: Error): void } } };
  internal.connection?.stream?.destroy(new Error(reason));
}

export async function closeConnection(connection: ChannelModel): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cut = new Promise<void>((resolve) => {
    timer = setTimeout(() => resolve(cutSocket(connection, "close handshake timed out")), CLOSE_TIMEOUT_MS);
  });
  try {
    await Promise.race([connection.close().catch(() => {}), cut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once the channel's socket drained, or `isClosed()` turns true (looked at every 100 ms). */
export function waitForDrain(channel: ConfirmChannel, isClosed: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (isClosed()) return resolve();
    const poll = setInterval(() => isClosed() && done(), 100);
    const done = () => {
      clearInterval(poll);
      channel.off("drain", done);
      resolve();
    };
    channel.once("drain", done);
  });
}
