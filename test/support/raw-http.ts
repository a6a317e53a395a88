/**
 * HTTP requests written by hand on a socket, for what fetch will not send: no Host, HTTP/1.0,
 * a Host that is no host name, a chunked body of any size, or a request from another loopback
 * address (`localAddress`, e.g. 127.0.0.2).
 */
import { connect, type Socket } from "node:net";

export interface RawAnswer {
  readonly status: number;
  /** Header names lowercased. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

function parse(text: string): RawAnswer {
  const end = text.indexOf("\r\n\r\n");
  const head = text.slice(0, end < 0 ? text.length : end).split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "")?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end < 0 ? "" : text.slice(end + 4);
  if (headers["transfer-encoding"] === "chunked") {
    let out = "";
    for (let at = 0; ; ) {
      const eol = body.indexOf("\r\n", at);
      const size = Number.parseInt(body.slice(at, eol), 16);
      if (!(size > 0)) break;
      out += body.slice(eol + 2, eol + 2 + size);
      at = eol + 2 + size + 2;
    }
    body = out;
  }
  return { status, headers, body };
}

function open(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) }, () =>
      resolve(socket),
    );
    socket.once("error", reject);
  });
}

/** Sends `request` as written and reads the answer until the server closes or `timeoutMs` passes. */
export async function rawRequest(
  port: number,
  request: string,
  options: { localAddress?: string; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  const socket = await open(port, options.localAddress);
  return new Promise((resolve) => {
    let text = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parse(text));
    };
    const timer = setTimeout(done, options.timeoutMs ?? 5_000);
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      // A complete answer with a length: no need to wait for the close.
      const answer = parse(text);
      const length = Number(answer.headers["content-length"] ?? Number.NaN);
      if (answer.status > 0 && Number.isFinite(length) && Buffer.byteLength(answer.body, "latin1") >= length) done();
    });
    socket.on("close", done);
    socket.on("error", done);
    socket.write(request);
  });
}

/**
 * POSTs a body of up to `totalBytes`, 64 KiB at a time, chunked (no Content-Length) or with
 * its length declared up front, and stops writing as soon as an answer arrives or the server
 * closes. Says how much was written (`totalBytes` is best a multiple of 64 KiB: the last piece is whole).
 */
export async function streamedPost(
  port: number,
  path: string,
  headers: Record<string, string>,
  totalBytes: number,
  framing: "chunked" | "length",
): Promise<RawAnswer & { readonly writtenBytes: number }> {
  const socket = await open(port);
  const head = [
    `POST ${path} HTTP/1.1`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    framing === "chunked" ? "Transfer-Encoding: chunked" : `Content-Length: ${totalBytes}`,
    "Connection: close",
    "",
    "",
  ].join("\r\n");
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const frame =
    framing === "chunked"
      ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")])
      : chunk;
  let text = "";
  let over = false;
  const finished = new Promise<void>((resolve) => {
    socket.on("data", (data) => {
      text += data.toString("latin1");
      over = true;
    });
    socket.on("close", () => {
      over = true;
      resolve();
    });
    socket.on("error", () => {
      over = true;
      resolve();
    });
  });
  socket.write(head);
  let written = 0;
  while (!over && written < totalBytes) {
    written += chunk.length;
    // Back-pressure: wait for the socket to drain rather than queue 50 MB in this process.
    if (!socket.write(frame)) await new Promise((resolve) => socket.once("drain", resolve).once("close", resolve));
  }
  if (!over && framing === "chunked") socket.write("0\r\n\r\n");
  await Promise.race([finished, Bun.sleep(10_000)]);
  socket.destroy();
  return { ...parse(text), writtenBytes: written };
}

/** {@link streamedPost} with a chunked body (no Content-Length). */
export const chunkedPost = (port: number, path: string, headers: Record<string, string>, totalBytes: number) =>
  streamedPost(port, path, headers, totalBytes, "chunked");
