/**
 * A PgBouncer of the test's own (Debian's `pgbouncer`, installed by scripts/test-deps.sh) in
 * front of the shared PostgreSQL, on a port of its own, with its default settings but for the
 * pool mode: no `ignore_startup_parameters`, so a start-up parameter it does not track is
 * refused as a managed pooler would. It runs as the postgres user (it refuses root) and is
 * stopped by the pid it wrote.
 */
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { PG } from "./services.ts";

export interface PgBouncer {
  readonly port: number;
  readonly mode: "session" | "transaction";
  /** Runs a command on PgBouncer's admin console (RECONNECT, SHOW SERVERS…). */
  admin(command: string): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

function ids(): { uid: number; gid: number } {
  const out = (flag: string) => Number(Bun.spawnSync(["id", flag, "postgres"]).stdout.toString().trim());
  return { uid: out("-u"), gid: out("-g") };
}

export async function startPgBouncer(port: number, mode: "session" | "transaction"): Promise<PgBouncer> {
  const dir = mkdtempSync(`/tmp/conn-pg-bouncer-${mode}-`);
  const { uid, gid } = ids();
  chownSync(dir, uid, gid);
  const ini = join(dir, "pgbouncer.ini");
  const pidfile = join(dir, "pgbouncer.pid");
  writeFileSync(join(dir, "users.txt"), `"${PG.user}" ""\n`);
  writeFileSync(
    ini,
    [
      "[databases]",
      `* = host=${PG.host} port=${PG.port}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${join(dir, "users.txt")}`,
      `admin_users = ${PG.user}`,
      `pool_mode = ${mode}`,
      `logfile = ${join(dir, "pgbouncer.log")}`,
      `pidfile = ${pidfile}`,
      "",
    ].join("\n"),
  );
  for (const file of ["users.txt", "pgbouncer.ini"]) chownSync(join(dir, file), uid, gid);
  const started = Bun.spawnSync(["runuser", "-u", "postgres", "--", "pgbouncer", "-d", ini], { stderr: "pipe" });
  if (started.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pgbouncer did not start: ${started.stderr.toString()}`);
  }
  const console = postgres({
    host: "127.0.0.1",
    port,
    user: PG.user,
    database: "pgbouncer",
    max: 1,
    connect_timeout: 2,
    prepare: false,
    fetch_types: false,
    onnotice: () => {},
  });
  const stop = async () => {
    try {
      // SIGTERM is PgBouncer 1.18's immediate shutdown.
      process.kill(Number(readFileSync(pidfile, "utf8").trim()), "SIGTERM");
    } catch {
      // not started, or already gone
    }
    await console.end({ timeout: 0 }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // -d returns once it forked; the listener is up when the admin console answers.
    for (let i = 0; ; i++) {
      try {
        await console.unsafe("SHOW VERSION").simple();
        break;
      } catch (error) {
        if (i > 40)
          throw new Error(`pgbouncer is not answering: ${error}\n${readFileSync(join(dir, "pgbouncer.log"), "utf8")}`);
        await Bun.sleep(25);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    mode,
    admin: async (command) => (await console.unsafe(command).simple()) as unknown as Record<string, unknown>[],
    stop,
  };
}
