/**
 * A TCP proxy to the real PostgreSQL that makes it look like a hot standby to a client, as
 * PostgreSQL 14+ reports one at start-up: `in_hot_standby = on` while
 * `default_transaction_read_only` stays `off`. Only the server's ParameterStatus messages before
 * the first ReadyForQuery are rewritten; everything after passes as it is. Plain TCP only: a
 * client's SSLRequest (libpq's and our default `prefer` sends one) passes through, and the shared
 * server's one-byte refusal `N` with it, so the client goes on in plain text.
 */
import net from "node:net";

export interface StandbyMask {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Client connections open now. */
  readonly open: number;
  close(): Promise<void>;
}

const PARAMETER_STATUS = 0x53; // 'S'
const READY_FOR_QUERY = 0x5a; // 'Z'

/** One ParameterStatus message with `name = value`. */
function parameterStatus(name: string, value: string): Buffer {
  const payload = Buffer.from(`${name}\0${value}\0`, "utf8");
  const message = Buffer.alloc(5 + payload.length);
  message[0] = PARAMETER_STATUS;
  message.writeInt32BE(4 + payload.length, 1);
  payload.copy(message, 5);
  return message;
}

/** The 8 bytes of an SSLRequest: length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);

/**
 * Rewrites the start-up messages of one server→client stream until the first ReadyForQuery.
 * `sslAnswers()` counts the SSLRequests the client sent that still await their one-byte answer.
 */
function startupRewriter(sslAnswers: () => number, answered: () => void): (chunk: Buffer) => Buffer {
  let pending = Buffer.alloc(0);
  let done = false;
  return (chunk) => {
    if (done) return chunk;
    pending = Buffer.concat([pending, chunk]);
    const out: Buffer[] = [];
    while (sslAnswers() > 0 && pending.length > 0) {
      out.push(pending.subarray(0, 1));
      pending = pending.subarray(1);
      answered();
    }
    while (pending.length >= 5) {
      const length = pending.readInt32BE(1);
      if (pending.length < 1 + length) break;
      const message = pending.subarray(0, 1 + length);
      pending = pending.subarray(1 + length);
      if (message[0] === PARAMETER_STATUS) {
        const [name] = message.subarray(5).toString("utf8").split("\0");
        out.push(name === "in_hot_standby" ? parameterStatus(name, "on") : message);
      } else out.push(message);
      if (message[0] === READY_FOR_QUERY) {
        done = true;
        out.push(pending);
        pending = Buffer.alloc(0);
        break;
      }
    }
    return Buffer.concat(out);
  };
}

export async function startStandbyMask(target: { host: string; port: number }): Promise<StandbyMask> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const server = net.createServer((client) => {
    accepted++;
    clients.add(client);
    client.on("close", () => clients.delete(client));
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    let sslAsked = 0;
    const rewrite = startupRewriter(
      () => sslAsked,
      () => sslAsked--,
    );
    client.on("data", (chunk: Buffer) => {
      if (chunk.length >= 8 && chunk.subarray(0, 8).equals(SSL_REQUEST)) sslAsked++;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(rewrite(chunk)));
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    get open() {
      return clients.size;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
