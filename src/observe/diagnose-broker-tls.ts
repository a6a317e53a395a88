/**
 * A RabbitMQ connection's TLS or SASL failure → one line that says what to do, naming the node
 * and the setting to change. Pure: the error and the (redacted) place in, text out; null when the
 * error is not about TLS or the SASL mechanism.
 */
import { messageOf } from "../error-text.ts";
import { UNTRUSTED_CHAIN } from "./tls-codes.ts";

/** What a line needs of the broker's TLS settings (config/broker-tls.ts's BrokerTlsConfig has it). */
interface TlsSettingsNamed {
  readonly cert: unknown;
  /** How to name each setting in a line that says what to set. */
  readonly names: { readonly ca: string; readonly cert: string; readonly key: string; readonly serverName: string };
}

export interface BrokerTlsPlace {
  /** The node, redacted. */
  readonly where: string;
  readonly tls?: TlsSettingsNamed;
}

const names = (tls: TlsSettingsNamed | undefined) =>
  tls?.names ?? {
    ca: "cacertfile= in RABBITMQ_URL or RABBITMQ_TLS_CA",
    cert: "certfile= and keyfile= in RABBITMQ_URL (or RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY)",
    key: "RABBITMQ_TLS_KEY",
    serverName: "server_name_indication= in RABBITMQ_URL or RABBITMQ_TLS_SERVER_NAME",
  };

/** `DNS:localhost, IP Address:127.0.0.1` → `localhost, 127.0.0.1`. */
function certNames(error: unknown): string {
  const cert = (error as { cert?: { subjectaltname?: string; subject?: { CN?: string } } }).cert;
  const alt = cert?.subjectaltname
    ?.split(/,\s*/)
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ""))
    .join(", ");
  return alt || cert?.subject?.CN || "(none)";
}

export function explainBrokerTls(error: unknown, place: BrokerTlsPlace): string | null {
  const code = String((error as { code?: unknown })?.code ?? "");
  const message = messageOf(error);
  const at = `RabbitMQ at ${place.where}`;
  const n = names(place.tls);
  const tlsNode = /^amqps:/i.test(place.where);
  const hasCert = place.tls?.cert !== null && place.tls?.cert !== undefined;

  if (code === "TLS_FILE_UNREADABLE") {
    return `${at}: ${message}; the file was readable at start: restore it (a certificate rotation must replace it, not remove it)`;
  }
  if (UNTRUSTED_CHAIN.has(code)) {
    return `${at}: the server's certificate is not signed by a CA we trust (${message}); give the CA's certificate (PEM) with ${n.ca}`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    const host = (error as { host?: string }).host ?? "the host";
    return `${at}: the server's certificate is not for "${host}": it holds ${certNames(error)}; connect by one of those names, or set ${n.serverName} to the name the certificate holds`;
  }
  if (code === "CERT_HAS_EXPIRED") {
    return `${at}: the server's certificate has expired; the broker must be given a new one (our side needs no change)`;
  }
  if (code === "CERT_NOT_YET_VALID") {
    return `${at}: the server's certificate is not valid yet; check the clocks of this machine and the broker`;
  }
  if (/CERTIFICATE_REQUIRED/.test(code + message) || (!hasCert && /ALERT_HANDSHAKE_FAILURE/.test(code + message))) {
    return `${at} requires a client certificate (fail_if_no_peer_cert) and none was given; give one with ${n.cert}`;
  }
  if (
    /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|HANDSHAKE_FAILURE|ACCESS_DENIED)/.test(
      code + message,
    )
  ) {
    const why = /CERTIFICATE_EXPIRED/.test(code + message)
      ? "it has expired"
      : /UNKNOWN_CA/.test(code + message)
        ? "it is not signed by a CA the broker trusts (its ssl_options.cacertfile)"
        : "it must be signed by a CA in the broker's ssl_options.cacertfile, be valid now, and be made for client authentication";
    return `${at} refused our client certificate (${message}): ${why}; check ${n.cert}`;
  }
  if (/BAD_DECRYPT|bad decrypt|bad password read/i.test(code + message)) {
    return `${at}: the client key in ${n.key} could not be decrypted: its password (password= in RABBITMQ_URL or RABBITMQ_TLS_KEY_PASSWORD) is missing or wrong`;
  }
  if (/KEY_VALUES_MISMATCH|key values mismatch/i.test(code + message)) {
    return `${at}: the client key does not belong to the client certificate; check ${n.cert}`;
  }
  if (
    /WRONG_VERSION_NUMBER|wrong version number|packet length too long|UNKNOWN_PROTOCOL/i.test(code + message) &&
    tlsNode
  ) {
    return `${at} did not answer TLS: that port speaks plain AMQP; use the broker's TLS port (5671 by default), or amqp:// (RABBITMQ_TLS=off) if plain AMQP is meant`;
  }
  if (code === "ECONNRESET" && !tlsNode) {
    return `${at} reset the connection at the AMQP handshake; if that port is a TLS listener (5671 by default), use amqps:// (or RABBITMQ_TLS=on); otherwise is the broker restarting, or a proxy with no backend in front of it?`;
  }
  if (/mechanism EXTERNAL is not provided/i.test(message)) {
    return `${at} does not offer the EXTERNAL mechanism on this listener; enable the rabbitmq_auth_mechanism_ssl plugin and list EXTERNAL in auth_mechanisms, or drop auth_mechanism=external (RABBITMQ_AUTH_MECHANISM)`;
  }
  if (/mechanism \w+ is not provided/i.test(message)) {
    return `${at}: ${message}; choose another with auth_mechanism= in RABBITMQ_URL or RABBITMQ_AUTH_MECHANISM`;
  }
  if (/Login was refused using authentication mechanism EXTERNAL/.test(message)) {
    return `${at} refused the EXTERNAL login: no user is named after our client certificate's subject (by default its CN, see ssl_cert_login_from), or that user may not use the vhost; create the user (rabbitmqctl add_user, clear_password) with permissions, or check ${n.cert}`;
  }
  return null;
}
