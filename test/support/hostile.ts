/**
 * TCP servers that are not PostgreSQL: they accept a connection and then close it at once (what
 * HAProxy does with no healthy backend), or answer garbage and close. Each counts the
 * connections it accepted, so a test can tell a bounded retry from a connection storm.
 */
import net from "node:net";

export type HostileMode = "close" | "garbage";

export interface HostileServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startHostileServer(mode: HostileMode): Promise<HostileServer> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    // A clean close (FIN), not a reset: the case postgres.js 3.4.9 retried with no delay.
    if (mode === "garbage") socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    else socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
