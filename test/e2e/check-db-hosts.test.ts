/** `check-db` with several hosts reports each one: reachable or not, primary or standby, read-only or not. */
import { expect, test } from "bun:test";
import { runBinary } from "../support/binary.ts";
import { testScope } from "../support/scope.ts";
import { PG } from "../support/services.ts";

const scope = testScope();

test("one line per host; ok while one host serves, FAILED with every host's line when none does", async () => {
  const db = await scope.database();
  const down = await scope.proxy(PG);
  const up = await scope.proxy(PG);
  const closer = await scope.hostile("close");
  down.refuse();
  const env = { POSTGRES_DB: db.name, POSTGRES_USER: PG.user, SCHEDULER_CONNECT_TIMEOUT: "2" };

  const hosts = `127.0.0.1:${down.port},127.0.0.1:${up.port},127.0.0.1:${closer.port}`;
  const ok = await runBinary(["check-db"], { ...env, POSTGRES_HOST: hosts });
  expect(ok.code).toBe(0);
  const lines = ok.stdout.split("\n");
  expect(lines[0]).toMatch(new RegExp(`^ok PostgreSQL \\S+.* at postgres@${hosts}/${db.name}$`));
  expect(lines.slice(1, 4)).toEqual([
    `  host 127.0.0.1:${down.port} FAILED: PostgreSQL at 127.0.0.1:${down.port} reset the connection; is it restarting, or a proxy with no healthy backend in front of it? check POSTGRES_HOST/POSTGRES_PORT, the proxy's backends and the server log`,
    `  host 127.0.0.1:${up.port}: primary, read-write`,
    `  host 127.0.0.1:${closer.port} FAILED: PostgreSQL at 127.0.0.1:${closer.port} closed the connection during start-up or before answering; is PostgreSQL itself listening there, or a proxy with no healthy backend? check POSTGRES_HOST/POSTGRES_PORT, the proxy's backends and the server log`,
  ]);

  const none = await runBinary(["check-db", "--json"], {
    ...env,
    POSTGRES_HOST: `127.0.0.1:${down.port},127.0.0.1:${closer.port}`,
  });
  expect(none.code).toBe(1);
  const report = JSON.parse(none.stdout);
  expect(report.ok).toBe(false);
  expect(report.hosts.map((h: { ok: boolean }) => h.ok)).toEqual([false, false]);
});

test("target_session_attrs=read-write: a read-only host is reported as such and the check fails when no host is writable", async () => {
  const db = await scope.database();
  const [a, b] = [await scope.proxy(PG), await scope.proxy(PG)];
  await db.sql.unsafe(`ALTER DATABASE ${db.name} SET default_transaction_read_only = on`);
  const url = `postgres://postgres@127.0.0.1:${a.port},127.0.0.1:${b.port}/${db.name}?target_session_attrs=read-write`;
  const { code, stderr } = await runBinary(["check-db"], { DATABASE_URL: url, SCHEDULER_CONNECT_TIMEOUT: "2" });
  expect(code).toBe(1);
  expect(stderr.split("\n")).toEqual([
    `FAILED no PostgreSQL host in 127.0.0.1:${a.port}, 127.0.0.1:${b.port} accepted a read-write session (target_session_attrs in DATABASE_URL); is a failover under way? check which host is the primary (rune-scheduler check-db)`,
    `  host 127.0.0.1:${a.port}: primary, read-only`,
    `  host 127.0.0.1:${b.port}: primary, read-only`,
    "",
  ]);
});
