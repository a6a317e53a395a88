/**
 * A scheduler with the operator console on, on a free port, with the scope's own database and
 * queue (consumed): what every console test starts from.
 */
import { freePort } from "./ports.ts";
import type { Scope } from "./scope.ts";

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
