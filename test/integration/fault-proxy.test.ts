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

/** A client through `proxy`, destroyed after the test. */
async function connect(proxy: FaultProxy): Promise<Client> {
  const socket = net.connect(proxy.port, "127.0.0.1");
  scope.defer(() => socket.destroy());
  let text = "";
  let isClosed = false;
  socket.on("data", (chunk) => (text += chunk.toString()));
  socket.on("error", () => {});
  socket.on("close", () => (isClosed = true));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return { socket, received: () => text, closed: () => isClosed };
}

/** A proxy in front of the echo server, closed after the test. */
const echoProxy = (): Promise<FaultProxy> => scope.proxy({ host: "127.0.0.1", port: echoPort });

/** Sends `text` from a fresh `client` and waits until it has come back whole. */
async function expectEcho(client: Client, text: string): Promise<void> {
  client.socket.write(text);
  await waitFor("the echo", () => client.received() === text, 2_000);
}

describe("fault proxy", () => {
  test("forwards both ways", async () => {
    const proxy = await echoProxy();
    const client = await connect(proxy);
    await expectEcho(client, "hello");
    expect(proxy.openConnections).toBe(1);
  });

  test("reset cuts open connections and later ones still work", async () => {
    const proxy = await echoProxy();
    const first = await connect(proxy);
    proxy.reset();
    await waitFor("the client to see the cut", () => first.closed(), 2_000);
    await expectEcho(await connect(proxy), "again");
  });

  test("refuse resets new connections until resume", async () => {
    const proxy = await echoProxy();
    proxy.refuse();
    const refused = await connect(proxy);
    await waitFor("the refused client to close", () => refused.closed(), 2_000);
    proxy.resume();
    await expectEcho(await connect(proxy), "back");
  });

  test("stall holds bytes without closing; resume delivers them", async () => {
    const proxy = await echoProxy();
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
  });

  test("delay adds latency and keeps order", async () => {
    const proxy = await echoProxy();
    proxy.delay(150);
    const client = await connect(proxy);
    const start = Date.now();
    client.socket.write("a");
    client.socket.write("b");
    await waitFor("the echo", () => client.received() === "ab", 2_000);
    // 150 ms each way.
    expect(Date.now() - start).toBeGreaterThanOrEqual(280);
  });

  test("inject writes to every client", async () => {
    const proxy = await echoProxy();
    const client = await connect(proxy);
    await waitFor("the connection to be counted", () => proxy.openConnections === 1, 1_000);
    proxy.inject(Buffer.from("injected"));
    await waitFor("the injected bytes", () => client.received() === "injected", 2_000);
  });
});
