/** What TLS is in effect, as every output shows it: the phrase, the gauge, the shipped alert rule. */
import { describe, expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { renderMetrics } from "../../src/observe/exposition.ts";
import { createMetrics } from "../../src/observe/metrics.ts";
import { certificateGraceMs, createTlsRegistry, describeTls, tlsOfHosts, tlsSummary } from "../../src/tls/registry.ts";

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

  test("the gauge carries only hosts in use: one whose connections all closed drops out after the grace period", () => {
    let clock = NOW;
    const registry = createTlsRegistry(() => clock);
    const GRACE = 15 * 60_000;
    const old = new EventEmitter();
    const [next, next2] = [new EventEmitter(), new EventEmitter()];
    registry.record("postgresql", "old:5432", full, old);
    registry.record("postgresql", "new:5432", full, next);
    registry.record("postgresql", "new:5432", full, next2);
    const hosts = (at: number) => registry.inUse(at, GRACE).map((entry) => entry.host);
    expect(hosts(clock)).toEqual(["old:5432", "new:5432"]);
    // A failover: the old primary's connection closes and nothing reconnects to it.
    old.emit("close");
    next.emit("close"); // one of two to the new host: still open
    clock += 60_000;
    expect(hosts(clock)).toEqual(["old:5432", "new:5432"]);
    expect(hosts(clock - 60_000 + GRACE - 1)).toEqual(["old:5432", "new:5432"]);
    expect(hosts(clock - 60_000 + GRACE)).toEqual(["new:5432"]);
    const text = renderMetrics(createMetrics(0), PROCESS, registry.inUse(NOW + DAY, GRACE), NOW);
    expect(text).toContain('host="new:5432"');
    expect(text).not.toContain('host="old:5432"');
    // A reconnect within the grace period keeps the series; every entry is still shown elsewhere.
    const again = new EventEmitter();
    registry.record("postgresql", "old:5432", full, again);
    expect(hosts(NOW + DAY)).toEqual(["old:5432", "new:5432"]);
    expect(registry.entries().map((entry) => entry.host)).toEqual(["old:5432", "new:5432"]);
    // A target recorded without a connection has no known lifetime: it stays.
    registry.record("rabbitmq", "mq:5671", full);
    expect(hosts(NOW + 365 * DAY)).toContain("mq:5671");
  });

  test("the grace period outlasts the pool's idle close between polls", () => {
    expect(certificateGraceMs(30_000)).toBe(15 * 60_000);
    expect(certificateGraceMs(3_600_000)).toBe(7_200_000);
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
