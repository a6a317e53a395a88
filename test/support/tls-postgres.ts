/**
 * A PostgreSQL 15 of the test's own with `ssl=on`, on a port of its own (never the shared
 * server): Debian's binaries, initdb into a new directory under /tmp, run as the postgres user
 * (as scripts/ha/rig.sh does; the tests run as root). pg_hba.conf: `hostssl … cert` for the
 * certificate user `certuser`, `hostnossl … reject`, `hostssl … trust` for everyone else. The
 * server's certificate can be replaced (`useServerCert`), which PostgreSQL reads on reload.
 */
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import type { Issued } from "./test-ca.ts";

const PG_BIN = "/usr/lib/postgresql/15/bin";

export interface TlsPostgres {
  readonly port: number;
  readonly dataDir: string;
  /** A superuser session over TLS (no verification), for set-up and assertions. */
  readonly admin: postgres.Sql;
  /** A session to database `name` over TLS (no verification); end it when done. */
  database(name: string): postgres.Sql;
  /** Installs `issued` as the server's certificate and reloads the configuration. */
  useServerCert(issued: Issued): Promise<void>;
  stop(): Promise<void>;
}

function run(args: string[], asPostgres = true): void {
  const argv = asPostgres ? ["runuser", "-u", "postgres", "--", ...args] : args;
  const done = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (done.exitCode !== 0)
    throw new Error(`${args.join(" ")} failed: ${done.stderr.toString()}${done.stdout.toString()}`);
}

function install(dataDir: string, issued: Issued): void {
  for (const [from, to] of [
    [issued.cert, "server.crt"],
    [issued.key, "server.key"],
  ] as const) {
    const path = join(dataDir, to);
    copyFileSync(from, path);
    chownSync(path, uidOfPostgres(), gidOfPostgres());
    chmodSync(path, 0o600);
  }
}

let ids: { uid: number; gid: number } | null = null;
function postgresIds(): { uid: number; gid: number } {
  if (ids) return ids;
  const out = (flag: string) => Number(Bun.spawnSync(["id", flag, "postgres"]).stdout.toString().trim());
  ids = { uid: out("-u"), gid: out("-g") };
  return ids;
}
const uidOfPostgres = () => postgresIds().uid;
const gidOfPostgres = () => postgresIds().gid;

/** Starts the server; `caCert` verifies client certificates. Stop it in an afterAll. */
export async function startTlsPostgres(options: {
  port: number;
  caCert: string;
  server: Issued;
  /** The server's default time zone: not UTC, so a test sees that ours is applied. */
  timezone?: string;
}): Promise<TlsPostgres> {
  const dataDir = mkdtempSync("/tmp/conn-pg-tls-");
  chownSync(dataDir, uidOfPostgres(), gidOfPostgres());
  const stop = async () => {
    Bun.spawnSync([
      "runuser",
      "-u",
      "postgres",
      "--",
      `${PG_BIN}/pg_ctl`,
      "-D",
      dataDir,
      "-m",
      "immediate",
      "-w",
      "stop",
    ]);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    run([`${PG_BIN}/initdb`, "-D", dataDir, "--auth=trust", "-U", "postgres"]);
    const ca = join(dataDir, "root.crt");
    copyFileSync(options.caCert, ca);
    chownSync(ca, uidOfPostgres(), gidOfPostgres());
    install(dataDir, options.server);
    writeFileSync(
      join(dataDir, "postgresql.auto.conf"),
      [
        "ssl = on",
        "ssl_cert_file = 'server.crt'",
        "ssl_key_file = 'server.key'",
        "ssl_ca_file = 'root.crt'",
        "listen_addresses = '127.0.0.1'",
        `timezone = '${options.timezone ?? "Pacific/Chatham"}'`,
        "max_connections = 60",
        "shared_buffers = 16MB",
        "fsync = off",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dataDir, "pg_hba.conf"),
      [
        "local all all trust",
        "hostssl all certuser 127.0.0.1/32 cert",
        "hostnossl all all 127.0.0.1/32 reject",
        "hostssl all all 127.0.0.1/32 trust",
        "",
      ].join("\n"),
    );
    run([
      `${PG_BIN}/pg_ctl`,
      "-D",
      dataDir,
      "-l",
      join(dataDir, "server.log"),
      "-w",
      "-t",
      "60",
      "-o",
      `-p ${options.port} -k ${dataDir}`,
      "start",
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  const database = (name: string) =>
    postgres({
      host: "127.0.0.1",
      port: options.port,
      user: "postgres",
      database: name,
      ssl: "require",
      max: 2,
      onnotice: () => {},
      connection: { TimeZone: "UTC" },
    });
  const admin = database("postgres");
  try {
    await admin`CREATE ROLE certuser LOGIN SUPERUSER`;
  } catch (error) {
    await admin.end({ timeout: 1 }).catch(() => {});
    await stop();
    throw error;
  }
  return {
    port: options.port,
    dataDir,
    admin,
    database,
    async useServerCert(issued) {
      install(dataDir, issued);
      const before = await admin<{ t: Date }[]>`SELECT pg_conf_load_time() AS t`;
      await admin`SELECT pg_reload_conf()`;
      // The postmaster reloads asynchronously; a new session's pg_conf_load_time shows it has.
      for (let i = 0; i < 200; i++) {
        const probe = database("postgres");
        const [now] = await probe<{ t: Date }[]>`SELECT pg_conf_load_time() AS t`;
        await probe.end();
        if (now!.t.getTime() !== before[0]!.t.getTime()) return;
        await Bun.sleep(25);
      }
      throw new Error("the server did not reload its configuration");
    },
    async stop() {
      await admin.end({ timeout: 1 }).catch(() => {});
      await stop();
    },
  };
}
