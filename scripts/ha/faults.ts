/**
 * The faults only real servers make, on the HA rig (scripts/ha/rig.sh; never the shared
 * services): a RabbitMQ memory alarm, a read-only primary, a full primary with the scheduler's
 * backends terminated, the whole RabbitMQ cluster stopped. test/ha/recovery.test.ts asserts on
 * them; scripts/bench/recovery-ha.ts measures them.
 */
import { resolve } from "node:path";
import postgres from "postgres";

const RIG = resolve(import.meta.dir, "rig.sh");
export const HA_DIR = process.env.HA_DIR ?? "/tmp/rune-ha";
export const HA_PG_PORT = Number(process.env.HA_PG_PORT ?? 55432);

/** Runs a verb of scripts/ha/rig.sh; its stdout. */
export async function rig(...args: string[]): Promise<string> {
  const proc = Bun.spawn(["bash", RIG, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, HA_DIR } });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`scripts/ha/rig.sh ${args.join(" ")} exited ${code}:\n${stdout}${stderr}`);
  return stdout.trim();
}

/** `rig env` as an object: DATABASE_URL, RABBITMQ_URL, RABBITMQ_QUEUE_TYPE. */
export async function rigEnv(): Promise<Record<string, string>> {
  return Object.fromEntries(
    (await rig("env")).split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

/** A superuser pool on the rig's first PostgreSQL node (the primary unless a failover moved it). */
export const primary = (max = 2) =>
  postgres({ host: "127.0.0.1", port: HA_PG_PORT, user: "postgres", database: "rune", max, onnotice: () => {} });

/** A memory alarm on node 1, which RabbitMQ applies to every publisher of the cluster. */
export const memoryAlarm = (on: boolean) => rig("mq-ctl", "1", "set_vm_memory_high_watermark", on ? "0.000001" : "0.4");

/** `default_transaction_read_only` on the primary, for every session (a reload). */
export async function readOnly(admin: postgres.Sql, on: boolean): Promise<void> {
  if (on) await admin`ALTER SYSTEM SET default_transaction_read_only = on`;
  else await admin`ALTER SYSTEM RESET default_transaction_read_only`;
  await admin`SELECT pg_reload_conf()`;
}

/**
 * Every connection slot of the primary taken, and the scheduler's backends terminated (an
 * administrator's pg_terminate_backend) so it must connect again into a full server. Returns
 * the release.
 */
export async function fillPrimary(admin: postgres.Sql): Promise<() => Promise<void>> {
  const filler = postgres({
    host: "127.0.0.1",
    port: HA_PG_PORT,
    user: "postgres",
    database: "rune",
    max: 250,
    onnotice: () => {},
  });
  const held: postgres.ReservedSql[] = [];
  const take = async () => {
    for (;;) {
      try {
        held.push(await filler.reserve());
      } catch {
        return; // 53300: full
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, take));
  await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rune-scheduler'`;
  // The slots the terminated backends freed.
  await take();
  return async () => {
    for (const connection of held.splice(0)) connection.release();
    await filler.end({ timeout: 1 });
  };
}

/** Stops every RabbitMQ node, node 1 last (so it can boot first, needing no peer). */
export async function stopCluster(): Promise<void> {
  for (const n of [3, 2, 1]) await rig("mq-stop", String(n));
}

/** Starts the cluster again; returns when the quorum queue had two members (it can take publishes). */
export async function startCluster(): Promise<number> {
  await rig("mq-start", "1");
  await rig("mq-start", "2");
  const quorumAt = Date.now();
  await rig("mq-start", "3");
  return quorumAt;
}
