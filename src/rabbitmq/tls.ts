/**
 * TLS and SASL for one AMQP connection: the options amqplib hands to tls.connect, built at every
 * connect from the files as they are then (a rotated certificate, key or CA is used from the
 * next connection on), and the TLS state of an open connection, read from its socket.
 */
import { readFileSync } from "node:fs";
import type { PeerCertificate, TLSSocket } from "node:tls";
import amqp, { type ChannelModel } from "amqplib";
import type { AuthMechanism, BrokerTlsConfig, TlsFile } from "../config/broker-tls.ts";
import type { TlsState } from "../tls/state.ts";

/** A certificate, key or CA file that cannot be read at connect time (it was readable at start). */
export class TlsFileError extends Error {
  readonly code = "TLS_FILE_UNREADABLE";
  constructor(
    readonly file: TlsFile,
    reason: string,
  ) {
    super(`cannot read ${file.path} (${file.setting}): ${reason}`);
    this.name = "TlsFileError";
  }
}

function read(file: TlsFile | null): Buffer | undefined {
  if (file === null) return undefined;
  try {
    return readFileSync(file.path);
  } catch (error) {
    throw new TlsFileError(file, (error as NodeJS.ErrnoException).code ?? String(error));
  }
}

/** amqplib's SASL credentials for a mechanism; plain and amqplain carry the URL's user and password. */
function credentialsFor(mechanism: AuthMechanism, nodeUrl: string): object {
  const { credentials } = amqp as unknown as {
    credentials: {
      plain(user: string, password: string): object;
      amqplain(user: string, password: string): object;
      external(): object;
    };
  };
  if (mechanism === "external") return credentials.external();
  const url = new URL(nodeUrl);
  const user = url.username === "" && url.password === "" ? "guest" : decodeURIComponent(url.username);
  const password = url.username === "" && url.password === "" ? "guest" : decodeURIComponent(url.password);
  return mechanism === "amqplain" ? credentials.amqplain(user, password) : credentials.plain(user, password);
}

/**
 * The socket options and credentials for one node: TLS options only for an `amqps://` node,
 * its files read now. Throws {@link TlsFileError} for a file gone since start.
 */
export function connectionOptions(
  nodeUrl: string,
  tls: BrokerTlsConfig | undefined,
  auth: AuthMechanism | undefined,
): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (auth !== undefined && auth !== "plain") options.credentials = credentialsFor(auth, nodeUrl);
  if (!nodeUrl.startsWith("amqps:") || tls === undefined) return options;
  const ca = read(tls.ca);
  if (ca !== undefined) options.ca = ca;
  const cert = read(tls.cert);
  const key = read(tls.key);
  if (cert !== undefined && key !== undefined) Object.assign(options, { cert, key });
  if (tls.keyPassword !== null) options.passphrase = tls.keyPassword;
  const noName = tls.serverName?.toLowerCase() === "disable";
  // The name sent in SNI is also the name the certificate is checked against.
  if (tls.serverName !== null && !noName) options.servername = tls.serverName;
  if (tls.verify === "verify_none") options.rejectUnauthorized = false;
  // As RabbitMQ's Erlang client reads server_name_indication=disable: the chain is checked, the name is not.
  else if (noName) options.checkServerIdentity = () => undefined;
  return options;
}

/** How the connection was verified, from what was asked and what the socket says. */
function verification(tls: BrokerTlsConfig | undefined, socket: TLSSocket): "full" | "ca" | "none" {
  if (!socket.authorized) return "none";
  if (tls?.serverName?.toLowerCase() === "disable") return "ca";
  return tls?.verify === "verify_none" ? "none" : "full";
}

const iso = (date: string | undefined): string | undefined =>
  date ? new Date(date).toISOString().replace(".000Z", "Z") : undefined;

function subjectOf(cert: PeerCertificate): string | undefined {
  const subject = cert.subject as unknown as Record<string, string | string[]> | undefined;
  if (!subject) return undefined;
  const cn = subject.CN;
  if (cn) return Array.isArray(cn) ? cn.join(",") : cn;
  return Object.entries(subject)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** `host:port` of a node URL, as the TLS registry (src/tls/registry.ts) keys it. */
export function nodeHost(nodeUrl: string): string {
  const url = new URL(nodeUrl);
  return `${url.hostname}:${url.port || (url.protocol === "amqps:" ? 5671 : 5672)}`;
}

/** What an open connection's TLS is, from its socket. */
export function tlsStateOf(connection: ChannelModel, tls: BrokerTlsConfig | undefined): TlsState {
  const socket = (connection as unknown as { connection?: { stream?: TLSSocket } }).connection?.stream;
  if (socket?.encrypted !== true) return { encrypted: false };
  const server = socket.getPeerCertificate();
  const client = socket.getCertificate() as PeerCertificate | null | Record<string, never>;
  const clientNotAfter = client && "valid_to" in client ? iso(client.valid_to) : undefined;
  return {
    encrypted: true,
    verified: verification(tls, socket),
    protocol: socket.getProtocol() ?? undefined,
    serverSubject: server ? subjectOf(server) : undefined,
    serverNotAfter: server ? iso(server.valid_to) : undefined,
    ...(clientNotAfter === undefined ? {} : { clientNotAfter }),
  };
}
