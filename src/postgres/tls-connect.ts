/**
 * The `ssl` option given to postgres.js: a function it calls at every connect (the project's
 * patch, patches/postgres+3.4.9.patch), so the CA, certificate and key files are read anew each
 * time and a rotated file is used from the next connection on. It also records what each
 * handshake gave (src/tls/registry.ts).
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { type ConnectionOptions, checkServerIdentity, type PeerCertificate, type TLSSocket } from "node:tls";
import { formatHost } from "../config/database-hosts.ts";
import type { PostgresTlsConfig, TlsFile } from "../config/postgres-tls.ts";
import { type TlsRegistry, tlsRegistry } from "../tls/registry.ts";
import type { TlsState } from "../tls/state.ts";

/** What the patched postgres.js takes from the function, per connect. */
export interface SslConnect {
  readonly tls: ConnectionOptions;
  /** Plain text when the server has no TLS (prefer). */
  readonly fallback: boolean;
  /** Skip TLS on this attempt (allow, first try). */
  readonly plain: boolean;
  readonly onsecure: (socket: TLSSocket) => void;
  /** This connection goes on in plain text (prefer told "no TLS", allow's first try). */
  readonly onplain: () => void;
}

export type SslOption = false | ((target: { host: string; port: number }) => SslConnect);

/** A TLS file that was there at start and is gone or unreadable now: retried like a lost link. */
export class TlsFileError extends Error {
  readonly code = "TLS_FILE_UNREADABLE";
  constructor(
    readonly file: TlsFile,
    reason: string,
  ) {
    super(`${file.setting} names ${file.path}, which cannot be read now (${reason})`);
    this.name = "TlsFileError";
  }
}

function read(file: TlsFile): Buffer {
  try {
    return readFileSync(file.path);
  } catch (error) {
    throw new TlsFileError(file, (error as NodeJS.ErrnoException).code ?? String(error));
  }
}

/** The subject's CN, else the whole subject as `K=v, K=v`. */
function subjectOf(cert: PeerCertificate): string | undefined {
  const subject = cert.subject as unknown as Record<string, string | string[]> | undefined;
  if (!subject) return undefined;
  const cn = subject.CN;
  if (cn) return `CN=${Array.isArray(cn) ? cn[0] : cn}`;
  const all = Object.entries(subject).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`);
  return all.length > 0 ? all.join(", ") : undefined;
}

const iso = (text: string | undefined): string | undefined => {
  const ms = text ? Date.parse(text) : Number.NaN;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
};

/** What one handshake gave. */
export function tlsStateOf(socket: TLSSocket, verified: TlsState["verified"], clientCert: Buffer | null): TlsState {
  const peer = socket.getPeerCertificate();
  let clientNotAfter: string | undefined;
  if (clientCert) {
    try {
      clientNotAfter = iso(new X509Certificate(clientCert).validTo);
    } catch {
      clientNotAfter = undefined; // an unparsable certificate would have failed the handshake
    }
  }
  return {
    encrypted: true,
    verified,
    protocol: socket.getProtocol() ?? undefined,
    serverSubject: peer ? subjectOf(peer) : undefined,
    serverNotAfter: iso(peer?.valid_to),
    ...(clientNotAfter ? { clientNotAfter } : {}),
  };
}

/**
 * `allow` tries plain text first, as libpq does; a host that refused it (pg_hba.conf `hostssl`
 * only) is remembered by the patched connection (its `plainRefused`) and gets TLS from then on.
 */
export function sslOption(config: PostgresTlsConfig, options: { registry?: TlsRegistry } = {}): SslOption {
  if (config.mode === "disable") return false;
  const registry = options.registry ?? tlsRegistry;
  return ({ host, port }) => {
    const ca = config.verify !== "none" && config.rootCert ? read(config.rootCert) : undefined;
    const cert = config.cert ? read(config.cert) : null;
    const key = config.key ? read(config.key) : undefined;
    const tls: ConnectionOptions = {
      rejectUnauthorized: config.verify !== "none",
      // SNI only for a name (never an address), and not when sslsni=0.
      servername: config.sni && isIP(host) === 0 ? host : undefined,
      ...(ca ? { ca } : {}),
      ...(cert ? { cert, key } : {}),
      ...(cert && config.password ? { passphrase: config.password } : {}),
      // verify-ca: the chain only (Cloud SQL's certificates carry no host name). verify-full
      // checks the name we dialled, the address included, whatever SNI says.
      checkServerIdentity:
        config.verify === "full" ? (_name, peer) => checkServerIdentity(host, peer) : () => undefined,
    };
    return {
      tls,
      fallback: config.mode === "prefer" || config.mode === "allow",
      plain: config.mode === "allow",
      onsecure: (socket) =>
        registry.record("postgresql", formatHost({ host, port }), tlsStateOf(socket, config.verify, cert), socket),
      // Else a host once reached over TLS would go on being shown encrypted (and its
      // certificate's expiry in the gauge) after a connection in plain text.
      onplain: () => registry.record("postgresql", formatHost({ host, port }), { encrypted: false }),
    };
  };
}
