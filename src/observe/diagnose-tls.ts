/**
 * PostgreSQL TLS failures as lines that say what to do: which setting gives a CA, which names the
 * certificate holds, which setting asks for TLS. Pure: the error, where, and the TLS settings.
 */
import { messageOf } from "../error-text.ts";
import { UNTRUSTED_CHAIN } from "./tls-codes.ts";

type FileSetting = { readonly path: string; readonly setting: string } | null;
/** What of config/postgres-tls.ts's settings a line names (observe/ does not import config/). */
export interface TlsPlace {
  readonly mode: string;
  readonly modeSetting: string;
  readonly rootCert: FileSetting;
  readonly cert: FileSetting;
  readonly key: FileSetting;
}

/** The names a certificate holds, from the error Node and Bun attach to a name mismatch. */
function namesOf(error: unknown, message: string): string {
  const cert = (error as { cert?: { subjectaltname?: string; subject?: { CN?: string } } }).cert;
  if (cert?.subjectaltname) return cert.subjectaltname;
  const fromMessage = /altnames: (.*)$|cert's CN: (.*)$/.exec(message);
  if (fromMessage) return (fromMessage[1] ?? fromMessage[2] ?? "").trim();
  return cert?.subject?.CN ? `CN=${cert.subject.CN}` : "(none given)";
}

const caSetting = (tls: TlsPlace | undefined) =>
  tls?.rootCert ? `${tls.rootCert.setting} (${tls.rootCert.path})` : "no CA file: the system's store";

/** The mode in effect and where it came from, e.g. `sslmode=disable from PGSSLMODE`. */
const modeIn = (tls: TlsPlace | undefined) => (tls ? `sslmode=${tls.mode} from ${tls.modeSetting}` : "sslmode=disable");

/**
 * A line for a TLS failure, or null when `error` is not one. `url`: the URL setting the connection
 * reads (DATABASE_URL, or SCHEDULER_NOTIFY_DATABASE_URL for LISTEN's), named where a hint says
 * which parameter to set.
 */
export function explainPostgresTls(
  error: unknown,
  at: string,
  user: string,
  tls: TlsPlace | undefined,
  url = "DATABASE_URL",
): string | null {
  const code = String((error as { code?: unknown })?.code ?? "");
  const message = messageOf(error);
  if (code === "TLS_FILE_UNREADABLE") return `PostgreSQL at ${at}: ${message}; restore the file or fix the setting`;
  if (code === "SSL_NOT_SUPPORTED") {
    return `PostgreSQL at ${at} does not offer TLS, but ${modeIn(tls)} requires it; turn ssl on at the server, or set sslmode=prefer to allow plain text`;
  }
  if (UNTRUSTED_CHAIN.has(code)) {
    return `PostgreSQL at ${at}: the server's certificate is not signed by a CA we trust (${message}; trusted now: ${caSetting(tls)}); give the server's CA with sslrootcert=<file> in ${url} or PGSSLROOTCERT`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || /does not match certificate's altnames/i.test(message)) {
    const host = at.replace(/:\d+$/, "");
    return `PostgreSQL at ${at}: the server's certificate is not for "${host}": it names ${namesOf(error, message)}; connect by one of those names, or use sslmode=verify-ca to check the CA only`;
  }
  if (code === "CERT_HAS_EXPIRED") {
    return `PostgreSQL at ${at}: the server's certificate has expired (${message}); renew it on the server (ssl_cert_file)`;
  }
  if (code === "CERT_NOT_YET_VALID") {
    return `PostgreSQL at ${at}: the server's certificate is not valid yet (${message}); check the clocks of both hosts`;
  }
  if (
    /bad decrypt|BAD_DECRYPT|bad password|unable to load.*key|PEM_R_BAD|KEY_VALUES_MISMATCH|key values mismatch/i.test(
      `${code} ${message}`,
    )
  ) {
    const key = tls?.key ? `${tls.key.setting} (${tls.key.path})` : "the client key";
    return `PostgreSQL at ${at}: ${key} could not be used (${message}); check that it is the certificate's key and its password (sslpassword in ${url} or POSTGRES_SSL_PASSWORD)`;
  }
  if (code === "28000" && /no encryption/i.test(message)) {
    return `PostgreSQL at ${at} accepts only TLS connections for user "${user}" (${message}); set sslmode=require or stronger in ${url} or PGSSLMODE (in effect: ${modeIn(tls)})`;
  }
  if (
    /requires a valid client certificate|certificate authentication failed|alert (certificate required|unknown ca|bad certificate|certificate unknown)|CERTIFICATE_REQUIRED|UNKNOWN_CA|BAD_CERTIFICATE/i.test(
      `${code} ${message}`,
    )
  ) {
    const given = tls?.cert ? `the one given (${tls.cert.setting}, ${tls.cert.path}) was refused` : "none was given";
    return `PostgreSQL at ${at} requires a client certificate for user "${user}" that it trusts, and ${given} (${message}); give sslcert and sslkey in ${url} or PGSSLCERT/PGSSLKEY, issued by the server's ssl_ca_file with CN=${user}`;
  }
  return null;
}
