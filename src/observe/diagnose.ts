/**
 * Turns a connection error into one line an operator can act on: what failed, where, what to try.
 * Pure: takes the error and the (already redacted) place, returns text.
 */
import { messageOf } from "../error-text.ts";
import { type BrokerTlsPlace, explainBrokerTls } from "./diagnose-broker-tls.ts";
import { explainPostgresTls, type TlsPlace } from "./diagnose-tls.ts";

interface ErrorLike {
  code?: unknown;
  errno?: unknown;
}

function codeOf(error: unknown): string {
  const e = (error ?? {}) as ErrorLike;
  return typeof e.code === "string" ? e.code : typeof e.errno === "string" ? e.errno : "";
}

interface DatabasePlace {
  host: string;
  port: number;
  user: string;
  database: string;
  /** Every configured host, when there are several. */
  hosts?: readonly { host: string; port: number }[];
  targetSessionAttrs?: string | null;
  /**
   * The URL setting this connection was read from (DATABASE_URL, or SCHEDULER_NOTIFY_DATABASE_URL
   * for LISTEN's direct address), so a hint names the setting in use; absent: the POSTGRES_* parts.
   */
  urlName?: string;
  /** Where the address and the database name came from (config/origin.ts). */
  origin?: { address: string; database: string };
  tls?: TlsPlace;
}

/** `; in effect: POSTGRES_HOST=db (default; no ./.env in /tmp)`, so a fallback to a default shows. */
const inEffect = (origin: string | undefined) => (origin ? `; in effect: ${origin}` : "");

/** The host the error came from (postgres.js and sockets attach it), else the configured one(s). */
function placeOf(error: unknown, place: DatabasePlace): string {
  const e = (error ?? {}) as { address?: unknown; port?: unknown };
  if (typeof e.address === "string" && typeof e.port === "number") return `${e.address}:${e.port}`;
  const hosts = place.hosts && place.hosts.length > 1 ? place.hosts : [place];
  return hosts.map((h) => `${h.host}:${h.port}`).join(", ");
}

const TLS_FAILURE = /\bTLS\b|\bSSL\b|certificate/i;
const tlsLine = (at: string, message: string, url: string) =>
  `PostgreSQL at ${at}: the TLS handshake failed (${message}); check sslmode (${url} or PGSSLMODE) against the server's ssl setting and certificate`;

/** The settings a hint names: the URL's own parts when a URL is in use, else the POSTGRES_* ones. */
function settingsOf(place: DatabasePlace) {
  const url = place.urlName ?? "DATABASE_URL";
  const fromUrl = place.urlName !== undefined;
  return {
    url,
    host: fromUrl ? url : "POSTGRES_HOST (or DATABASE_URL)",
    hostPort: fromUrl ? `the host and port in ${url}` : "POSTGRES_HOST/POSTGRES_PORT",
    password: fromUrl ? `the password in ${url}` : "POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE, DATABASE_URL)",
    user: fromUrl ? `the user in ${url}` : "POSTGRES_USER",
    database: fromUrl ? `fix the database in ${url}` : "set POSTGRES_DB",
  };
}

export function explainDatabaseError(error: unknown, place: DatabasePlace, connectTimeoutMs: number): string {
  const at = placeOf(error, place);
  const code = codeOf(error);
  const message = messageOf(error);
  const address = inEffect(place.origin?.address);
  const names = settingsOf(place);
  const tls = explainPostgresTls(error, at, place.user, place.tls, names.url);
  if (tls !== null) return tls;
  const refused = /unsupported startup parameter: (\S+)/i.exec(message);
  if (refused) {
    return `PostgreSQL at ${at} is a connection pooler that refuses the start-up parameter ${refused[1]}; set POSTGRES_POOLER=transaction (or session, PgBouncer's pool_mode), which sends the session limits per transaction instead`;
  }
  switch (code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `PostgreSQL host "${place.host}" cannot be resolved; check ${names.host} and DNS${address}`;
    case "ECONNREFUSED":
      return `PostgreSQL refused the connection at ${at}; is it running and listening there? check ${names.hostPort}${address}`;
    case "CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return `PostgreSQL at ${at} did not answer within ${connectTimeoutMs / 1000}s; check the address, firewalls and SCHEDULER_CONNECT_TIMEOUT${address}`;
    case "28P01":
      return `PostgreSQL rejected the password for user "${place.user}" at ${at}; check ${names.password}`;
    case "28000":
      return `PostgreSQL refused user "${place.user}" at ${at} (${message}); check ${names.user} and the server's pg_hba.conf`;
    case "3D000":
      return `PostgreSQL database "${place.database}" does not exist at ${at}; create it (createdb ${place.database}) or ${names.database}${inEffect(place.origin?.database)}`;
    case "42501":
      return `PostgreSQL user "${place.user}" lacks a privilege at ${at} (${message}); grant it SELECT and UPDATE on scheduled_workflows and SELECT on workflows`;
    case "CONNECTION_CLOSED":
      // What a proxy with no healthy backend (HAProxy, PgBouncer, a cloud load balancer) does.
      return `PostgreSQL at ${at} closed the connection during start-up or before answering; is PostgreSQL itself listening there, or a proxy with no healthy backend? check ${names.hostPort}, the proxy's backends and the server log`;
    case "ECONNRESET":
      // A TLS handshake the server does not speak also ends in a reset: that has its own line below.
      if (TLS_FAILURE.test(message)) return tlsLine(at, message, names.url);
      return `PostgreSQL at ${at} reset the connection; is it restarting, or a proxy with no healthy backend in front of it? check ${names.hostPort}, the proxy's backends and the server log`;
    case "CONNECTION_DESTROYED":
      if (place.targetSessionAttrs) {
        return `no PostgreSQL host in ${placeOf(null, place)} accepted a ${place.targetSessionAttrs} session (target_session_attrs in ${names.url}); is a failover under way? check which host is the primary (rune-scheduler check-db)`;
      }
      return `PostgreSQL at ${at} (user "${place.user}", database "${place.database}") failed: ${message} [${code}]`;
    case "25006":
      return `PostgreSQL at ${at} is read-only (a standby, or the old primary after a failover); point ${place.urlName ?? "POSTGRES_HOST/DATABASE_URL"} at the primary, or list every host with target_session_attrs=read-write`;
    case "57P01":
      return `PostgreSQL at ${at} terminated our session (an administrator's pg_terminate_backend, or a fast shutdown); reconnecting`;
    case "57P02":
      return `PostgreSQL at ${at} ended our session in a crash recovery of the server; reconnecting`;
    case "57P03":
      return `PostgreSQL at ${at} is starting up or shutting down; try again in a few seconds`;
    case "53300":
      return `PostgreSQL at ${at} is full: no free connection slots (max_connections reached); raise max_connections or stop idle clients`;
    default:
      if (TLS_FAILURE.test(message)) return tlsLine(at, message, names.url);
      return `PostgreSQL at ${at} (user "${place.user}", database "${place.database}") failed: ${message}${code ? ` [${code}]` : ""}`;
  }
}

interface BrokerPlace extends BrokerTlsPlace {
  /** Redacted URL. */
  where: string;
  vhost: string;
  /** "RABBITMQ_URL" when the nodes came from it, so a hint names it; absent: the RABBITMQ_* parts. */
  urlName?: string;
  /** Where the address came from (config/origin.ts). */
  origin?: { address: string };
}

export function explainBrokerError(error: unknown, place: BrokerPlace, connectTimeoutMs: number): string {
  const code = codeOf(error);
  const message = messageOf(error);
  const at = place.where;
  const address = inEffect(place.origin?.address);
  const tls = explainBrokerTls(error, place);
  if (tls !== null) return tls;
  const url = place.urlName;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") {
    const host = url ? `the host in ${url}` : "RABBITMQ_HOST (or RABBITMQ_URL)";
    return `RabbitMQ host in ${at} cannot be resolved; check ${host} and DNS${address}`;
  }
  if (code === "ECONNREFUSED") {
    const hostPort = url ? `the host and port in ${url}` : "RABBITMQ_HOST/RABBITMQ_PORT";
    return `RabbitMQ refused the connection at ${at}; is it running and listening there? check ${hostPort}${address}`;
  }
  if (code === "ETIMEDOUT" || /ETIMEDOUT/.test(message)) {
    return `RabbitMQ at ${at} did not answer within ${connectTimeoutMs / 1000}s; check the address, firewalls and SCHEDULER_CONNECT_TIMEOUT${address}`;
  }
  const writeRefused = /access to exchange '([^']*)' in vhost '[^']*' refused for user '([^']*)'/.exec(message);
  if (writeRefused) {
    return `RabbitMQ at ${at} refused to let user "${writeRefused[2]}" publish (no write permission on exchange "${writeRefused[1]}", which publishes to the queue); give the user write permission (rabbitmqctl set_permissions)`;
  }
  const queueRefused = /access to queue '([^']*)'/.exec(message);
  if (queueRefused) {
    return `RabbitMQ at ${at} refused access to queue "${queueRefused[1]}": the user may not declare or use it; create the queue, or give the user configure and write permission on it (rabbitmqctl set_permissions)`;
  }
  if (/ACCESS_REFUSED|403|authentication|PLAIN login refused/i.test(message)) {
    const credentials = url
      ? `the user and password in ${url}`
      : "RABBITMQ_USER and RABBITMQ_PASSWORD (or RABBITMQ_URL)";
    return `RabbitMQ rejected the credentials at ${at}; check ${credentials}`;
  }
  // amqplib reports a refused vhost as a close instead of the expected ConnectionOpenOk.
  if (/NOT_ALLOWED|vhost|530|Expected ConnectionOpenOk/i.test(message)) {
    return `RabbitMQ at ${at} refused vhost "${place.vhost}": it does not exist or the user may not use it; check the vhost in RABBITMQ_URL and the user's permissions`;
  }
  if (/PRECONDITION_FAILED|406/.test(message)) {
    return `RabbitMQ at ${at} rejected the queue declaration: ${message}`;
  }
  return `RabbitMQ at ${at} (vhost "${place.vhost}") failed: ${message}${code ? ` [${code}]` : ""}`;
}
