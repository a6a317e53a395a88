/**
 * Every package `npm ci` installs supports the Node.js the Quickstart asks for (Debian's, 20), so
 * the first screen of a fresh clone holds no `npm warn EBADENGINE`.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

/** The oldest Node.js we install with: Debian's nodejs package (trixie ships 20.19). */
const OLDEST_NODE = "20.19.0";

test(`every locked package accepts Node.js ${OLDEST_NODE}`, () => {
  const lock = JSON.parse(readFileSync(resolve(import.meta.dir, "../../package-lock.json"), "utf8")) as {
    packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
  };
  const refused = Object.entries(lock.packages).flatMap(([path, entry]) => {
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    return range && !Bun.semver.satisfies(OLDEST_NODE, range) ? [`${path}@${entry.version}: node ${range}`] : [];
  });
  expect(refused).toEqual([]);
});
