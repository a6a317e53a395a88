/** Hiding secrets from anything a person or a log collector can see. */

/**
 * `scheme://user:password@`: the password runs to the last @ before the host, as a URL parser
 * reads it, so one holding a literal @ (or a user name holding one, Azure's `user@server`) is
 * hidden whole; stopping at the first @ showed the rest.
 */
const CREDENTIALS_IN_URL = /([a-z][a-z0-9+.-]*:\/\/[^:/?#\s]*:)[^\s/?#]*@/gi;

/**
 * A client key's password in a URL's query: libpq's `sslpassword`, RabbitMQ's `password`. A
 * comma ends it only where the next URL starts (as RABBITMQ_URL is split): a password may hold
 * a comma, and stopping at it showed the rest.
 */
const PASSWORD_IN_QUERY = /([?&](?:sslpassword|password)=)(?:[^&#\s,]|,(?!\s*[a-z][a-z0-9+.-]*:\/\/))*/gi;

/** `amqp://user:pw@host/vh` → `amqp://user:***@host/vh`; text without credentials is unchanged. */
export function maskUrl(text: string): string {
  return text.replace(CREDENTIALS_IN_URL, "$1***@").replace(PASSWORD_IN_QUERY, "$1***");
}

/**
 * The same for a whole setting's value (`DATABASE_URL=…` in an error or an "in effect" line): the
 * password runs to the last @ of the URL, so one holding an unencoded `/`, `?` or `#` (which a
 * URL parser ends the authority at, and config refuses) is hidden whole too. Not for free text,
 * where an @ further on may belong to something else.
 */
const CREDENTIALS_IN_SETTING = /([a-z][a-z0-9+.-]*:\/\/[^:/?#\s]*:)(?:[^\s,]|,(?!\s*[a-z][a-z0-9+.-]*:\/\/))*@/gi;

export function maskSetting(value: string): string {
  return maskUrl(value.replace(CREDENTIALS_IN_SETTING, "$1***@"));
}

/** Replaces every known secret value and every URL password in `text` with `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = maskUrl(text);
  for (const secret of secrets) {
    // A one- or two-character "secret" would mangle every line; the URL rule above still hides it.
    if (secret.length >= 3) {
      result = result.split(secret).join("***");
      const encoded = encodeURIComponent(secret);
      if (encoded !== secret) result = result.split(encoded).join("***");
    }
  }
  return result;
}
