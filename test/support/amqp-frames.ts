/** Raw AMQP 0-9-1 frames a test injects through a fault proxy (test/support/proxy.ts `inject`). */

/** connection.blocked (method 60, with the broker's reason) / connection.unblocked (61), on channel 0. */
export function connectionFrame(method: 60 | 61, reason = ""): Uint8Array {
  const text = Buffer.from(reason, "utf8");
  const payload = Buffer.concat([
    Buffer.from([0, 10, 0, method]),
    method === 60 ? Buffer.concat([Buffer.from([text.length]), text]) : Buffer.alloc(0),
  ]);
  const header = Buffer.alloc(7);
  header.writeUInt8(1, 0);
  header.writeUInt16BE(0, 1);
  header.writeUInt32BE(payload.length, 3);
  return Buffer.concat([header, payload, Buffer.from([0xce])]);
}
