/**
 * `run`'s start-up failures as one named line and an exit code, the way the check commands speak:
 * what failed, where, and what to try; never a stack trace. Exit 2 where the configured value can
 * never work on this host (the systemd unit does not restart on 2), 1 where a restart may succeed.
 */

import type { Config } from "../config/config.ts";
import { messageOf } from "../error-text.ts";
import { ListenError } from "../observe/http.ts";

interface StartupFailure {
  line: string;
  exitCode: 1 | 2;
}

/** `name(env)` is what the user set: `--http-port` when it came from a flag, else the variable. */
export function explainStartupFailure(error: unknown, config: Config, name: (env: string) => string): StartupFailure {
  if (error instanceof ListenError) {
    const port = `${name("SCHEDULER_HTTP_PORT")}=${error.port}`;
    const host = `${name("SCHEDULER_HTTP_HOST")}=${JSON.stringify(error.host)}`;
    switch (error.code) {
      case "EADDRINUSE":
        return {
          line: `${port} is already in use on ${error.host}; give each instance on a host its own port, or 0 to turn the server off`,
          exitCode: 1,
        };
      case "EACCES":
        return {
          line: `${port} may not be opened by this user on ${error.host} (ports below 1024 need privileges); use a port from 1024 up, or grant CAP_NET_BIND_SERVICE`,
          exitCode: 2,
        };
      case "EADDRNOTAVAIL":
        return {
          line: `${host} is not an address of this machine, so the HTTP server cannot listen there; use 127.0.0.1, 0.0.0.0 (every interface) or an address this host has`,
          exitCode: 2,
        };
      case "HTTP_TLS_UNUSABLE": {
        const files = `${name("SCHEDULER_HTTP_TLS_CERT")}=${config.httpTls?.cert} and ${name("SCHEDULER_HTTP_TLS_KEY")}=${config.httpTls?.key}`;
        return {
          line: `the HTTPS certificate and key could not be loaded: ${messageOf(error.cause)}; check ${files}: PEM files, the certificate (chain) and its unencrypted private key, which must belong to it`,
          exitCode: 2,
        };
      }
      case "ENOTFOUND":
      case "EAI_AGAIN":
        return {
          line: `${host} does not resolve to an address to listen on; use 127.0.0.1, 0.0.0.0 or an address this host has`,
          exitCode: 2,
        };
      default:
        return {
          line: `the HTTP server ${error.message}${error.code ? ` [${error.code}]` : ""}; check ${name("SCHEDULER_HTTP_HOST")} and ${name("SCHEDULER_HTTP_PORT")} (0 turns the server off)`,
          exitCode: 1,
        };
    }
  }
  const message = messageOf(error);
  const code = (error as { code?: unknown })?.code;
  return {
    line: `start-up failed: ${message}${code !== undefined ? ` [${String(code)}]` : ""} (db ${config.db.where}, mq ${config.mq.where})`,
    exitCode: 1,
  };
}
