/** What TLS is in effect, as every output shows it: the phrase, the gauge, the shipped alert rule. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { renderMetrics } from "../../src/observe/exposition.ts";
import { createMetrics } from "../../src/observe/metrics.ts";
import { createTlsRegistry, describeTls, tlsOfHosts, tlsSummary } from "../../src/tls/registry.ts";

const DAY = 86_400_000;
const NOW = Date.parse("2026-12-01T00:00:00Z");
const PROCESS = { residentBytes: 1, cpuSecondsTotal: 1, startTimeSeconds: 1 };
const full = {
  encrypted: true,
  verified: "full",
  protocol: "TLSv1.3",
  serverSubject: "CN=db.example",
  serverNotAfter: new Date(NOW + 10 * DAY).toISOString(),
  clientNotAfter: new Date(NOW + 40 * DAY).toISOString(),
} as const;

describe("the TLS in effect", () => {
  test("one phrase per state", () => {
    expect(describeTls({ encrypted: false })).toBe("not encrypted");
    expect(describeTls(full)).toBe(
      "TLSv1.3, verified (full), server CN=db.example expires 2026-12-11, client certificate expires 2027-01-10",
    );
    expect(describeTls({ encrypted: true, verified: "ca", protocol: "TLSv1.2" })).toBe("TLSv1.2, verified (CA only)");
    expect(describeTls({ encrypted: true, verified: "none", protocol: "TLSv1.3" })).toBe("TLSv1.3, not verified");
  });

  test("a host without a handshake is plain; the last handshake of a host wins", () => {
    const registry = createTlsRegistry();
    expect(tlsOfHosts(registry, "postgresql", ["a:5432"])).toEqual([{ host: "a:5432", state: { encrypted: false } }]);
    registry.record("postgresql", "a:5432", { encrypted: true, verified: "none" });
    registry.record("postgresql", "a:5432", full);
    registry.record("rabbitmq", "a:5432", { encrypted: true, verified: "ca" });
    expect(tlsOfHosts(registry, "postgresql", ["a:5432", "b:5432"])).toEqual([{ host: "a:5432", state: full }]);
    expect(tlsSummary(registry, "rabbitmq", null)).toBe("a:5432: TLS, verified (CA only)");
  });

  test("the gauge: seconds until each certificate expires, per engine, host and certificate", () => {
    const registry = createTlsRegistry();
    registry.record("postgresql", "db:5432", full);
    registry.record("rabbitmq", "mq:5671", {
      encrypted: true,
      verified: "full",
      serverNotAfter: new Date(NOW - DAY).toISOString(),
    });
    const text = renderMetrics(createMetrics(0), PROCESS, registry.entries(), NOW);
    expect(text).toContain("# TYPE rune_scheduler_tls_certificate_expiry_seconds gauge");
    expect(text).toContain(
      'rune_scheduler_tls_certificate_expiry_seconds{engine="postgresql",host="db:5432",certificate="server"} 864000',
    );
    expect(text).toContain(
      'rune_scheduler_tls_certificate_expiry_seconds{engine="postgresql",host="db:5432",certificate="client"} 3456000',
    );
    expect(text).toContain(
      'rune_scheduler_tls_certificate_expiry_seconds{engine="rabbitmq",host="mq:5671",certificate="server"} -86400',
    );
    expect(renderMetrics(createMetrics(0), PROCESS, [], NOW)).not.toContain("tls_certificate");
  });

  test("the shipped alert rules are the documented ones, and warn 14 days ahead of an expiry", () => {
    const file = readFileSync(
      new URL("../../scripts/deploy/prometheus/rune-scheduler.rules.yaml", import.meta.url),
      "utf8",
    );
    const docs = readFileSync(new URL("../../docs/observability.md", import.meta.url), "utf8");
    const block = /## 7\. Alert rules[\s\S]*?```yaml\n([\s\S]*?)```/.exec(docs)![1]!;
    expect(file.replace(/^#.*\n/, "")).toBe(block);
    const rules = (Bun.YAML.parse(file) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups[0]!.rules;
    const expiring = rules.find((rule) => rule.alert === "RuneSchedulerCertificateExpiring")!;
    expect(expiring.expr).toContain("rune_scheduler_tls_certificate_expiry_seconds");
    expect(expiring.expr).toContain("< 14 * 86400");
  });
});
