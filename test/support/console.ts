/**
 * A scheduler with the operator console on, on a free port, with the scope's own database and
 * queue (consumed): what every console test starts from.
 */
import { addHistoryTables } from "./history.ts";
import { freePort } from "./ports.ts";
import type { Scope } from "./scope.ts";
import { insertSchedules } from "./services.ts";

export async function startWithConsole(scope: Scope, token: string, env: Record<string, string> = {}) {
  const { db, queue } = await scope.setup({ consume: true });
  const port = await freePort();
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    SCHEDULER_HTTP_PORT: String(port),
    SCHEDULER_CONSOLE_TOKEN: token,
    ...env,
  });
  await scheduler.waitForLine(/Operator console on/);
  return { db, queue, scheduler, base: `http://127.0.0.1:${port}` };
}

/**
 * {@link startWithConsole} with the history tables and one schedule, the scheduler connecting as
 * a database user that may read and update the schedules but not read the history tables.
 */
export async function startWithoutHistoryGrant(scope: Scope, token: string) {
  const { db, queue } = await scope.setup({ consume: true });
  await addHistoryTables(db.sql);
  const [id] = await insertSchedules(db.sql, [{ dueInMs: 3_600_000, intervalSeconds: 60 }]);
  const user = `rune_nohist_${db.name.slice(-8)}`;
  await db.sql.unsafe(
    `CREATE ROLE ${user} LOGIN; GRANT SELECT, UPDATE ON scheduled_workflows TO ${user}; GRANT SELECT ON workflows TO ${user}`,
  );
  scope.defer(() => db.sql.unsafe(`DROP OWNED BY ${user}; DROP ROLE ${user}`));
  const port = await freePort();
  const scheduler = scope.start({
    ...db.env,
    ...queue.env,
    POSTGRES_USER: user,
    SCHEDULER_HTTP_PORT: String(port),
    SCHEDULER_CONSOLE_TOKEN: token,
  });
  await scheduler.waitForLine(/Operator console on/);
  return { id: id!, user, base: `http://127.0.0.1:${port}` };
}
