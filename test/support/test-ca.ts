/**
 * A private certificate authority made by the test, with openssl: a CA, server certificates for
 * the names a test asks for (a right name and a wrong one), and client certificates for a user.
 * Everything is written as PEM files into a directory the caller owns (a scope's `tempDir`).
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCa {
  readonly dir: string;
  /** The CA's certificate (PEM), to trust. */
  readonly caCert: string;
  /** A certificate and key signed by this CA; `names` go into subjectAltName (DNS or IP). */
  issue(name: string, options: IssueOptions): Issued;
}

export interface IssueOptions {
  /** The subject's common name: a host name for a server, the user name for a client. */
  readonly commonName: string;
  /** DNS names and IP addresses for subjectAltName (servers); none for a client certificate. */
  readonly altNames?: readonly string[];
  readonly usage: "server" | "client";
  /** Days of validity from now; negative makes a certificate that has already expired. */
  readonly days?: number;
  /** Encrypts the key (PKCS#8, AES-256) with this password. */
  readonly keyPassword?: string;
}

export interface Issued {
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[], cwd: string): void {
  const run = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr.toString()}`);
}

/** A new CA in `dir` (which must exist). `commonName` names it in chains and errors. */
export function createTestCa(dir: string, commonName = "rune-scheduler test CA"): TestCa {
  const caKey = join(dir, "ca.key");
  const caCert = join(dir, "ca.crt");
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", caKey], dir);
  openssl(
    ["req", "-x509", "-new", "-key", caKey, "-sha256", "-days", "30", "-subj", `/CN=${commonName}`, "-out", caCert],
    dir,
  );
  chmodSync(caKey, 0o600);
  return {
    dir,
    caCert,
    issue(name, options) {
      const key = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const cert = join(dir, `${name}.crt`);
      const ext = join(dir, `${name}.ext`);
      openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key], dir);
      chmodSync(key, 0o600);
      openssl(["req", "-new", "-key", key, "-subj", `/CN=${options.commonName}`, "-out", csr], dir);
      const altNames = (options.altNames ?? []).map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`));
      writeFileSync(
        ext,
        [
          "basicConstraints=CA:FALSE",
          `extendedKeyUsage=${options.usage === "server" ? "serverAuth" : "clientAuth"}`,
          ...(altNames.length > 0 ? [`subjectAltName=${altNames.join(",")}`] : []),
        ].join("\n"),
      );
      const days = options.days ?? 30;
      if (days > 0) {
        openssl(
          ["x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-sha256"].concat([
            "-extfile",
            ext,
            "-days",
            String(days),
            "-out",
            cert,
          ]),
          dir,
        );
      } else {
        // Backdated validity needs `openssl ca` (x509 -req cannot set the start date in OpenSSL 3.0).
        signExpired(dir, { csr, ext, cert, caCert, caKey, days });
      }
      if (options.keyPassword !== undefined) {
        const encrypted = join(dir, `${name}.enc.key`);
        openssl(
          [
            "pkcs8",
            "-topk8",
            "-in",
            key,
            "-v2",
            "aes-256-cbc",
            "-passout",
            `pass:${options.keyPassword}`,
            "-out",
            encrypted,
          ],
          dir,
        );
        chmodSync(encrypted, 0o600);
        return { cert, key: encrypted };
      }
      return { cert, key };
    },
  };
}

/** A certificate valid from three days ago until `days` (≤ 0) days from now: already expired. */
function signExpired(
  dir: string,
  files: { csr: string; ext: string; cert: string; caCert: string; caKey: string; days: number },
): void {
  const config = join(dir, "expired-ca.cnf");
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(
    config,
    [
      "[ca]",
      "default_ca = test",
      "[test]",
      `database = ${join(dir, "index.txt")}`,
      `new_certs_dir = ${dir}`,
      "rand_serial = yes",
      "default_md = sha256",
      "policy = any",
      "unique_subject = no",
      "[any]",
      "commonName = supplied",
    ].join("\n"),
  );
  openssl(
    ["ca", "-batch", "-config", config, "-in", files.csr, "-cert", files.caCert, "-keyfile", files.caKey].concat([
      "-extfile",
      files.ext,
      "-startdate",
      stamp(-3),
      "-enddate",
      stamp(Math.min(files.days, -1)),
      "-notext",
      "-out",
      files.cert,
    ]),
    dir,
  );
}

/** openssl's YYYYMMDDHHMMSSZ, `days` from now. */
function stamp(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000);
  return `${d.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}
