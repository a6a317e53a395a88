/**
 * What `healthcheck` and `stats` trust over HTTPS (commands/http-probe.ts): asking the local
 * instance, whose name is not checked, only SCHEDULER_HTTP_TLS_CA; asking by --url, the name is
 * checked and the public roots are trusted beside it.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import { probeTlsOptions } from "../../src/commands/http-probe.ts";

const dir = mkdtempSync(join(tmpdir(), "review-probe-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CA_PEM = "-----BEGIN CERTIFICATE-----\nprivate CA\n-----END CERTIFICATE-----\n";
const CA = join(dir, "ca.crt");
writeFileSync(CA, CA_PEM);

test("the local instance, its name unchecked, is trusted only through SCHEDULER_HTTP_TLS_CA, not the public roots", () => {
  const local = probeTlsOptions({ ca: CA, local: true });
  expect(local.ca).toEqual([CA_PEM]);
  expect(typeof local.checkServerIdentity).toBe("function");
});

test("an instance asked by --url: its name checked, the public roots and SCHEDULER_HTTP_TLS_CA trusted", () => {
  const remote = probeTlsOptions({ ca: CA, local: false });
  expect(remote.ca).toEqual([...rootCertificates, CA_PEM]);
  expect(remote.checkServerIdentity).toBeUndefined();
  expect(probeTlsOptions({ ca: null, local: false })).toEqual({});
});
