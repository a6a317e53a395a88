/**
 * A fault-injecting TCP proxy owned by one test: 127.0.0.1:<ephemeral> → target. It lets a test
 * break the link between the scheduler and a shared service without touching the service.
 *
 * - `reset()`   cuts every open connection (RST to the client, close to the server).
 * - `refuse()`  new connections are reset as soon as they are accepted (a server that is down).
 * - `stall()`   stops forwarding in both directions without closing anything: a peer that went
 *               silent (partition, hung server). New connections are accepted and stall too.
 *               Bytes are left unread in the kernel, so senders see back-pressure, as on a
 *               real dead link; a close from either side is held back too.
 * - `resume()`  undoes refuse and stall: held bytes and closes flow again.
 * - `delay(ms)` adds latency to every chunk, both directions, order kept.
 * - `throttle(bps)` limits each direction of each connection to about `bps` bytes a second
 *               (0 lifts it): a slow link that still moves.
 * - `inject()`  writes raw bytes to every client (protocol-level faults, e.g. AMQP frames).
 */
import net from "node:net";

export interface ProxyTarget {
  readonly host: string;
  readonly port: number;
}

export interface FaultProxy {
  readonly port: number;
  /** Connections currently open through the proxy. */
  readonly openConnections: number;
  /** Connections accepted since the proxy started (refused ones included). */
  readonly acceptedConnections: number;
  reset(): void;
  refuse(): void;
  stall(): void;
  resume(): void;
  delay(ms: number): void;
  throttle(bytesPerSecond: number): void;
  inject(bytes: Uint8Array): void;
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  readonly server: net.Socket;
  /** A close seen while stalled: delivered on resume. */
  heldClose: (() => void) | null;
}

export async function startProxy(target: ProxyTarget): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  /** Every socket still open, paired or not, so close() leaves nothing behind. */
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  let mode: "forward" | "refuse" | "stall" = "forward";
  let delayMs = 0;
  let throttleBps = 0;
  let accepted = 0;

  const forward = (from: net.Socket, to: net.Socket) => {
    let lastDue = 0;
    from.on("data", (chunk: Buffer) => {
      if (delayMs <= 0 && throttleBps <= 0 && queued.length === 0) {
        if (!to.write(chunk) && mode !== "stall") {
          from.pause();
          to.once("drain", () => mode !== "stall" && from.resume());
        }
        return;
      }
      const due = Math.max(Date.now() + delayMs, lastDue) + (throttleBps > 0 ? (chunk.length * 1000) / throttleBps : 0);
      lastDue = due;
      // One FIFO per direction, drained by one timer: separate timers per chunk could fire out
      // of order (their deadlines round to whole milliseconds), which corrupts the stream.
      queued.push({ due, chunk });
      if (queued.length === 1) drainSoon();
    });
    const queued: { due: number; chunk: Buffer }[] = [];
    const drainSoon = () => {
      const head = queued[0];
      if (!head) return;
      setTimeout(
        () => {
          while (queued.length > 0 && queued[0]!.due <= Date.now() + 1) {
            const { chunk } = queued.shift()!;
            if (!to.destroyed) to.write(chunk);
          }
          drainSoon();
        },
        Math.max(0, head.due - Date.now()),
      );
    };
  };

  const server = net.createServer((client) => {
    accepted += 1;
    track(client);
    if (mode === "refuse") {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    const pair: Pair = { client, server: upstream, heldClose: null };
    pairs.add(pair);
    if (mode === "stall") {
      client.pause();
      upstream.pause();
    }
    forward(client, upstream);
    forward(upstream, client);
    const teardown = (why: "client" | "server", error?: Error) => {
      const finish = () => {
        pairs.delete(pair);
        // A server that went away resets the client, like a real dead peer would.
        if (why === "server" && error) client.destroyed || client.resetAndDestroy();
        else client.destroyed || client.end();
        upstream.destroyed || upstream.end();
      };
      if (mode === "stall") pair.heldClose = finish;
      else finish();
    };
    client.on("error", () => {});
    upstream.on("error", (error) => teardown("server", error));
    client.on("close", () => teardown("client"));
    upstream.on("close", () => teardown("server"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    get openConnections() {
      return pairs.size;
    },
    get acceptedConnections() {
      return accepted;
    },
    reset() {
      for (const pair of pairs) {
        pairs.delete(pair);
        pair.client.resetAndDestroy();
        pair.server.destroy();
      }
    },
    refuse() {
      mode = "refuse";
    },
    stall() {
      mode = "stall";
      for (const pair of pairs) {
        pair.client.pause();
        pair.server.pause();
      }
    },
    resume() {
      mode = "forward";
      for (const pair of pairs) {
        pair.client.resume();
        pair.server.resume();
        const held = pair.heldClose;
        pair.heldClose = null;
        held?.();
      }
    },
    delay(ms) {
      delayMs = ms;
    },
    throttle(bytesPerSecond) {
      throttleBps = bytesPerSecond;
    },
    inject(bytes) {
      for (const pair of pairs) pair.client.write(bytes);
    },
    async close() {
      mode = "forward";
      pairs.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
