/**
 * The HTTP server's listening socket, plain or HTTPS. Bun.serve cannot swap the certificate of a
 * running server (`reload()` ignores `tls`), so a changed certificate or key is served by a new
 * listener on the same address and port: the old one stops listening at once and finishes the
 * requests it has (a console's live stream included). The files are checked every
 * {@link WATCH_INTERVAL_MS} and on {@link HttpListener.reloadTls} (SIGHUP); a pair that does not
 * load keeps the previous certificate in service, with an ERROR line.
 */
import { readFileSync, statSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { Server } from "bun";
import { messageOf } from "../error-text.ts";

/** How often the certificate and key files are looked at for a change (size, time, inode). */
export const WATCH_INTERVAL_MS = 5_000;

/** The certificate and key files to serve (config/http-tls.ts). */
export interface HttpTlsFiles {
  readonly cert: string;
  readonly key: string;
}

export interface HttpListener {
  /** The bound port (the kernel's choice when 0 was asked). */
  readonly port: number;
  /** "https" when a certificate is served. */
  readonly scheme: "http" | "https";
  /** Reads the certificate and key again now and serves them if they changed and load. */
  reloadTls(why: string): void;
  stop(closeActive: boolean): void;
}

interface Handlers {
  readonly maxRequestBodySize: number;
  fetch(request: Request, server: Server<undefined>): Response | Promise<Response>;
  error(error: Error): Response;
}

interface Material {
  readonly cert: string;
  readonly key: string;
  /** What the files looked like when read, to notice a change without reading them. */
  readonly stamp: string;
}

function stampOf(tls: HttpTlsFiles): string {
  return [tls.cert, tls.key]
    .map((path) => {
      const st = statSync(path);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    })
    .join("|");
}

/** Reads and checks the pair (a key that does not match its certificate throws here, not at the first handshake). */
function load(tls: HttpTlsFiles): Material {
  const stamp = stampOf(tls);
  const cert = readFileSync(tls.cert, "utf8");
  const key = readFileSync(tls.key, "utf8");
  createSecureContext({ cert, key });
  return { cert, key, stamp };
}

/** The certificate and key given at start do not load (not PEM, a key that is not the certificate's). */
export class HttpTlsLoadError extends Error {
  readonly code = "HTTP_TLS_UNUSABLE";
}

export interface ListenerLog {
  info(message: string): void;
  error(message: string): void;
}

/** Listens on `host:port`; throws what Bun.serve throws when it cannot (port in use, no such address). */
export function listenHttp(
  host: string,
  port: number,
  tls: HttpTlsFiles | null,
  handlers: Handlers,
  log: ListenerLog,
): HttpListener {
  let material: Material | null = null;
  try {
    material = tls === null ? null : load(tls);
  } catch (error) {
    throw new HttpTlsLoadError(messageOf(error));
  }
  const serve = (m: Material | null, onPort: number): Server<undefined> =>
    Bun.serve({
      hostname: host,
      port: onPort,
      ...(m === null ? {} : { tls: { cert: m.cert, key: m.key } }),
      maxRequestBodySize: handlers.maxRequestBodySize,
      fetch: handlers.fetch,
      error: handlers.error,
    });
  let server = serve(material, port);
  /** Listeners replaced by a rotation, still finishing their requests; closed at stop. */
  const retired = new Set<Server<undefined>>();
  /** The last failure logged, so a file that stays missing is one ERROR line, not one every look. */
  let lastFailure: string | null = null;

  const reloadTls = (why: string) => {
    if (tls === null || material === null) return;
    let next: Material;
    try {
      if (stampOf(tls) === material.stamp && why === "changed") return;
      next = load(tls);
    } catch (error) {
      const failure = messageOf(error);
      if (failure !== lastFailure || why !== "changed") {
        log.error(
          `HTTPS certificate reload (${why}) failed: ${failure}; still serving the previous certificate (SCHEDULER_HTTP_TLS_CERT=${tls.cert}, SCHEDULER_HTTP_TLS_KEY=${tls.key})`,
        );
      }
      lastFailure = failure;
      return;
    }
    lastFailure = null;
    if (next.cert === material.cert && next.key === material.key) {
      // The same pair (a SIGHUP, or a file touched): a new listener would only cut the clients'
      // kept-alive connections, and Bun keeps some memory of every server it has started.
      material = next;
      if (why !== "changed") log.info(`HTTPS certificate unchanged (${why}); still serving ${tls.cert}`);
      return;
    }
    const old = server;
    const boundPort = old.port ?? port;
    old.stop(false);
    try {
      server = serve(next, boundPort);
    } catch (error) {
      // Someone took the port in the moment between: keep serving what we had, if we can.
      server = serve(material, boundPort);
      log.error(
        `HTTPS certificate reload (${why}) could not listen again: ${messageOf(error)}; still serving the previous certificate`,
      );
      return;
    }
    retired.add(old);
    material = next;
    log.info(`HTTPS certificate reloaded (${why}) from ${tls.cert}`);
  };

  const watch = tls === null ? null : setInterval(() => reloadTls("changed"), WATCH_INTERVAL_MS);
  watch?.unref();

  return {
    get port() {
      return server.port ?? port;
    },
    scheme: tls === null ? "http" : "https",
    reloadTls,
    stop(closeActive) {
      if (watch) clearInterval(watch);
      server.stop(closeActive);
      for (const old of retired) old.stop(closeActive);
    },
  };
}
