/**
 * What an AMQP URL may say, checked where configuration is read (src/config/config.ts) so a bad one
 * exits 2 before anything connects. No amqplib here: config.ts must not pull the client in.
 */

/** AMQP heartbeat: a silently dead broker is noticed within about two of these. */
export const HEARTBEAT_SECONDS = 10;

/**
 * Why a node URL cannot be used as it is, or null. amqplib 2 reads `heartbeat=0` as "no
 * heartbeats" (0.10 took the broker's suggestion for it), and without heartbeats a broker that
 * goes silent while the scheduler is idle is never noticed: /readyz would stay 200 over a dead link.
 */
export function brokerUrlProblem(nodeUrl: string): string | null {
  const heartbeat = new URL(nodeUrl).searchParams.get("heartbeat");
  // Read as amqplib reads it (parseInt), so "00" and "0s" count as the 0 they become.
  if (heartbeat !== null && Number.parseInt(heartbeat, 10) === 0) {
    return `no heartbeat=0 in the URL (it turns AMQP heartbeats off, so a silent broker is never noticed); omit it for ${HEARTBEAT_SECONDS} s, or give whole seconds of at least 1`;
  }
  return null;
}
