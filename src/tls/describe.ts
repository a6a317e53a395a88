/** A TlsState (state.ts) as one line of text, for check-mq's tls line and run's connection line. */
import type { TlsState } from "./state.ts";

/** One line of text: `TLSv1.3, verified (full), server "localhost" until 2027-01-06T03:41:44Z, client certificate until …`. */
export function describeTls(state: TlsState | undefined): string {
  if (!state?.encrypted) return "plain (no TLS)";
  const how =
    state.verified === "full" ? "verified" : state.verified === "ca" ? "CA verified, name not checked" : "NOT verified";
  const parts = [`${state.protocol ?? "TLS"}, ${how}`];
  if (state.serverSubject) parts.push(`server "${state.serverSubject}" until ${state.serverNotAfter ?? "?"}`);
  if (state.clientNotAfter) parts.push(`client certificate until ${state.clientNotAfter}`);
  return parts.join(", ");
}
