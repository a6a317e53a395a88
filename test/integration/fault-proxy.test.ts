/** The test proxy itself, against a local echo server: each fault does what it says. */
import { beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import type { FaultProxy } from "../support/proxy.ts";
import { sharedScope, testScope } from "../support/scope.ts";
import { waitFor } from "../support/services.ts";

/** The echo server, for the whole file; each test's proxy goes with its test. */
const file = sharedScope();
const scope = testScope();
let echoPort: number;

beforeAll(async () => {
  const echo = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  file.defer(() => new Promise<void>((resolve) => echo.close(() => resolve())));
  echoPort = (echo.address() as net.AddressInfo).port;
});

interface Client {
  readonly socket: net.Socket;
  received(): string;
  closed(): boolean;
}

async function connect(proxy: FaultProxy): Promise<Client> {
  const socket = net.connect(proxy.port, "127.0.0.1");
  let text = "";
  let isClosed = false;
  socket.on("data", (chunk) => (text += chunk.toString()));
  socket.on("error", () => {});
  socket.on("close", () => (isClosed = true));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return { socket, received: () => text, closed: () => isClosed };
}

async function withProxy(body: (proxy: FaultProxy) => Promise<void>): Promise<void> {
  await body(await scope.proxy({ host: "127.0.0.1", port: echoPort }));
}

describe("fault proxy", () => {
  test("forwards both ways", () =>
    withProxy(async (proxy) => {
      const client = await connect(proxy);
      client.socket.write("hello");
      await waitFor("the echo", () => client.received() === "hello", 2_000);
      expect(proxy.openConnections).toBe(1);
      client.socket.destroy();
    }));

  test("reset cuts open connections and later ones still work", () =>
    withProxy(async (proxy) => {
      const first = await connect(proxy);
      proxy.reset();
      await waitFor("the client to see the cut", () => first.closed(), 2_000);
      const second = await connect(proxy);
      second.socket.write("again");
      await waitFor("the echo", () => second.received() === "again", 2_000);
      second.socket.destroy();
    }));

  test("refuse resets new connections until resume", () =>
    withProxy(async (proxy) => {
      proxy.refuse();
      const refused = await connect(proxy);
      await waitFor("the refused client to close", () => refused.closed(), 2_000);
      proxy.resume();
      const client = await connect(proxy);
      client.socket.write("back");
      await waitFor("the echo", () => client.received() === "back", 2_000);
      client.socket.destroy();
    }));

  test("stall holds bytes without closing; resume delivers them", () =>
    withProxy(async (proxy) => {
      const client = await connect(proxy);
      proxy.stall();
      client.socket.write("held");
      const stalledUntil = Date.now() + 300;
      await waitFor("300 ms of silence", () => Date.now() > stalledUntil || client.received() !== "", 1_000);
      expect(client.received()).toBe("");
      expect(client.closed()).toBe(false);
      // A connection made during the stall is accepted but stalls as well.
      const late = await connect(proxy);
      late.socket.write("late");
      proxy.resume();
      await waitFor("the held echo", () => client.received() === "held" && late.received() === "late", 2_000);
      client.socket.destroy();
      late.socket.destroy();
    }));

  test("delay adds latency and keeps order", () =>
    withProxy(async (proxy) => {
      proxy.delay(150);
      const client = await connect(proxy);
      const start = Date.now();
      client.socket.write("a");
      client.socket.write("b");
      await waitFor("the echo", () => client.received() === "ab", 2_000);
      // 150 ms each way.
      expect(Date.now() - start).toBeGreaterThanOrEqual(280);
      client.socket.destroy();
    }));

  test("inject writes to every client", () =>
    withProxy(async (proxy) => {
      const client = await connect(proxy);
      await waitFor("the connection to be counted", () => proxy.openConnections === 1, 1_000);
      proxy.inject(Buffer.from("injected"));
      await waitFor("the injected bytes", () => client.received() === "injected", 2_000);
      client.socket.destroy();
    }));
});
