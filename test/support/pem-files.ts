/**
 * Files that stand where a TLS setting points, for configuration tests: each begins like a PEM
 * certificate and has the mode asked for (a key readable by others is what a warning is about).
 * Nothing parses them; the directory is removed after the file's last test.
 */
import { afterAll } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function pemFiles(prefix: string): { dir: string; file: (name: string, mode?: number) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, mode = 0o600) => {
    const path = join(dir, name);
    writeFileSync(path, "-----BEGIN CERTIFICATE-----\n");
    chmodSync(path, mode);
    return path;
  };
  return { dir, file };
}
