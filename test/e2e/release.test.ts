/**
 * scripts/release.sh, run as a release manager would: four cross-compiled binaries and their
 * SHA256SUMS. The x64 binaries run here; the arm64 ones are checked to be aarch64 ELF files
 * that ask for the right loader (no emulator on CI machines).
 *
 * The x64-musl binary is linked against musl and Alpine's libstdc++, which Debian does not
 * package. It runs under Debian's musl loader with Debian's libstdc++ instead, plus a shim that
 * supplies the few glibc-only symbols that libstdc++ refers to: enough to prove the runtime and
 * the bundled code start and report their version, not a stand-in for running it on Alpine.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { runCommand } from "../support/binary.ts";
import { sharedScope } from "../support/scope.ts";

const REPO = resolve(import.meta.dir, "../..");
const PREFIX = `rune-scheduler-${pkg.version}-`;
/** Debian's musl package installs its loader under the name the x64-musl binary asks for. */
const MUSL_LOADER = "/lib/ld-musl-x86_64.so.1";

const EXPECTED = {
  "linux-x64": { machine: "x86-64", interpreter: "/lib64/ld-linux-x86-64.so.2" },
  "linux-x64-musl": { machine: "x86-64", interpreter: "/lib/ld-musl-x86_64.so.1" },
  "linux-arm64": { machine: "aarch64", interpreter: "/lib/ld-linux-aarch64.so.1" },
  "linux-arm64-musl": { machine: "aarch64", interpreter: "/lib/ld-musl-aarch64.so.1" },
} as const;

const scope = sharedScope();
let out: string;
let release: { code: number | null; output: string };

/** The ELF facts that decide where a binary runs: class, byte order, machine, loader. */
async function elf(
  path: string,
): Promise<{ class64: boolean; littleEndian: boolean; machine: string; interpreter: string | null }> {
  const head = Buffer.from(
    await Bun.file(path)
      .slice(0, 1 << 16)
      .arrayBuffer(),
  );
  expect(head.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  const machines: Record<number, string> = { 62: "x86-64", 183: "aarch64" };
  const phoff = Number(head.readBigUInt64LE(0x20));
  const phentsize = head.readUInt16LE(0x36);
  let interpreter: string | null = null;
  for (let i = 0; i < head.readUInt16LE(0x38); i++) {
    const ph = phoff + i * phentsize;
    if (head.readUInt32LE(ph) !== 3) continue; // PT_INTERP
    const offset = Number(head.readBigUInt64LE(ph + 8));
    const size = Number(head.readBigUInt64LE(ph + 32));
    interpreter = head.subarray(offset, offset + size - 1).toString("latin1");
  }
  return {
    class64: head[4] === 2,
    littleEndian: head[5] === 1,
    machine: machines[head.readUInt16LE(0x12)] ?? "other",
    interpreter,
  };
}

function versionPattern(): RegExp {
  const head = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: REPO }).stdout.toString().trim();
  return new RegExp(`^${pkg.version.replaceAll(".", "\\.")} \\(commit ${head}(-dirty)?\\)\\n$`);
}

const run = (argv: string[], env: Record<string, string> = {}) =>
  runCommand(argv, { env: { PATH: "/usr/bin:/bin", HOME: "/tmp", ...env }, cwd: out, timeoutMs: 30_000 });

/** Glibc-only symbols Debian's libstdc++ and libgcc_s refer to, for musl's loader. */
const GLIBC_SHIM = `
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
char __libc_single_threaded = 0;
int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso) { (void)dtor; (void)obj; (void)dso; return 0; }
uint32_t arc4random(void) { return (uint32_t)random(); }
size_t __strftime_l(char *s, size_t n, const char *f, const struct tm *t, locale_t l) { return strftime_l(s, n, f, t, l); }
int _dl_find_object(void *pc, void *result) { (void)pc; (void)result; return -1; }
struct { unsigned int vendor, type, subtype, features[1]; } __cpu_model;
int __cpu_indicator_init(void) { return 0; }
`;

/** A library directory in which musl's loader finds what the x64-musl binary asks for. */
function muslLibraryDir(): string {
  const dir = join(out, "musl-libs");
  mkdirSync(dir, { recursive: true });
  const muslLibc = realpathSync(MUSL_LOADER);
  // The binary asks for Alpine's name of musl; Debian's libstdc++ asks for glibc's names.
  for (const name of ["libc.musl-x86_64.so.1", "libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"])
    symlinkSync(muslLibc, join(dir, name));
  for (const lib of ["/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"]) {
    symlinkSync(lib, join(dir, lib.split("/").at(-1)!));
  }
  writeFileSync(join(dir, "shim.c"), GLIBC_SHIM);
  const cc = Bun.spawnSync(
    ["musl-gcc", "-shared", "-fPIC", "-O2", "-o", join(dir, "libglibcshim.so"), join(dir, "shim.c")],
    { stderr: "pipe" },
  );
  if (cc.exitCode !== 0) throw new Error(`musl-gcc failed: ${cc.stderr}`);
  return dir;
}

beforeAll(async () => {
  out = scope.tempDir("rune-release-");
  const { code, stdout, stderr } = await runCommand(["bash", join(REPO, "scripts/release.sh"), out], { cwd: REPO });
  release = { code, output: stdout + stderr };
}, 180_000);

describe("scripts/release.sh", () => {
  test("builds the four targets with runtimes fetched through npm, never by Bun's own download", () => {
    expect(release.output).not.toContain("Downloading");
    expect(release.code).toBe(0);
  });

  test("writes SHA256SUMS that match the four binaries and list nothing else", async () => {
    const lines = readFileSync(join(out, "SHA256SUMS"), "utf8").trim().split("\n");
    const listed = Object.fromEntries(lines.map((line) => line.split(/\s+\*?/)).map(([hash, file]) => [file!, hash!]));
    expect(Object.keys(listed).sort()).toEqual(
      Object.keys(EXPECTED)
        .map((name) => PREFIX + name)
        .sort(),
    );
    for (const [file, hash] of Object.entries(listed)) {
      const actual = new Bun.CryptoHasher("sha256").update(await Bun.file(join(out, file)).arrayBuffer()).digest("hex");
      expect({ file, hash: actual }).toEqual({ file, hash });
    }
  });

  test("each binary is a 64-bit little-endian ELF for its machine that asks for its libc's loader", async () => {
    for (const [name, want] of Object.entries(EXPECTED)) {
      expect({ name, ...(await elf(join(out, PREFIX + name))) }).toEqual({
        name,
        class64: true,
        littleEndian: true,
        ...want,
      });
    }
  });

  test("the x64 glibc binary reports the package version and the commit it was built from", async () => {
    const { code, stdout } = await run([join(out, `${PREFIX}linux-x64`), "--version"]);
    expect(stdout).toMatch(versionPattern());
    expect(code).toBe(0);
  });

  test("the x64 musl binary starts on musl libc and reports the same version and commit", async () => {
    const libs = muslLibraryDir();
    const { code, stdout, stderr } = await run(
      [MUSL_LOADER, "--library-path", libs, join(out, `${PREFIX}linux-x64-musl`), "--version"],
      { LD_PRELOAD: join(libs, "libglibcshim.so") },
    );
    expect({ stdout, stderr }).toEqual({ stdout: expect.stringMatching(versionPattern()), stderr: "" });
    expect(code).toBe(0);
  });
});
