/**
 * What a connection's TLS is, once it is open: the shape that check-db, check-mq, run's start
 * line, /stats, the console's instance card and the certificate-expiry gauge all show, for either
 * engine. Pure data, made by the adapters (postgres/, rabbitmq/) from the socket they opened.
 */
export interface TlsState {
  /** False for a plain connection; the other fields are then absent. */
  readonly encrypted: boolean;
  /** "full": chain and host name checked; "ca": chain only; "none": encrypted but not verified. */
  readonly verified?: "full" | "ca" | "none";
  /** As the socket reports it, e.g. "TLSv1.3". */
  readonly protocol?: string;
  /** The server certificate's subject (its CN, else the whole subject). */
  readonly serverSubject?: string;
  /** When the server certificate expires (ISO 8601). */
  readonly serverNotAfter?: string;
  /** When our client certificate expires (ISO 8601), when one was presented. */
  readonly clientNotAfter?: string;
}
