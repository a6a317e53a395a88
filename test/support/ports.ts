/**
 * A TCP port on 127.0.0.1 that nothing listens on: taken from the kernel, then released. Serves
 * both needs: a port for a server the test starts next (HTTP, a scheduler), and a port that
 * refuses connections (a dead node, an unreachable database).
 */
import net from "node:net";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
