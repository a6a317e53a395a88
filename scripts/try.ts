/**
 * README "Try it", without psql or a RabbitMQ CLI. Reads the configuration as the binary does
 * (environment, then ./.env), so it talks to the database and queue `run` uses.
 *
 *   bun scripts/try.ts hello    adds workflow "hello" and a schedule due now, every 60 s
 *   bun scripts/try.ts sql      runs the SQL read from stdin and prints what it returns
 *   bun scripts/try.ts watch    prints each message on RABBITMQ_QUEUE as it arrives (and takes
 *                               it off the queue, as a worker would); Ctrl-C to stop
 */

import { ConfigError, loadConfig, processSources } from "../src/config/config.ts";
import { createDatabase } from "../src/postgres/client.ts";
import { connectBroker, ensureQueue } from "../src/rabbitmq/broker.ts";
import { splitStatements } from "./sql-statements.ts";

/** The README's two INSERTs: next_run_at holds UTC, whatever the session's zone. */
export const HELLO_SQL = `INSERT INTO workflows (name, workflow_data) VALUES ('hello', '{"greeting": "hi"}');
INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds)
  SELECT id, now() AT TIME ZONE 'UTC', 60 FROM workflows WHERE name = 'hello' ORDER BY id DESC LIMIT 1;`;

const USAGE = "usage: bun scripts/try.ts hello | sql < statements.sql | watch";

/**
 * Runs each statement on its own, in order, on one session (so BEGIN … COMMIT holds), and prints
 * each one's rows, or its command and count: postgres.js reports one multi-statement query's
 * commands as one. Stops at the first failure, naming the statement.
 */
async function runSql(text: string): Promise<number> {
  const config = loadConfig(processSources());
  const sql = createDatabase(config.db, {
    connectTimeoutMs: config.connectTimeoutMs,
    max: 1,
    applicationName: "rune-scheduler try",
    timesAsText: true,
  });
  try {
    const statements = splitStatements(text);
    for (const [i, statement] of statements.entries()) {
      let rows: Record<string, unknown>[] & { command?: string; count?: number | null };
      try {
        rows = (await sql.unsafe(statement).simple()) as unknown as typeof rows;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(statements.length > 1 ? `statement ${i + 1} failed: ${message}` : message);
      }
      if (rows.length > 0) console.log(rows.map((row) => JSON.stringify(row)).join("\n"));
      else if (rows.command) console.log(`${rows.command} ${rows.count ?? ""}`.trim());
    }
    return 0;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function watch(): Promise<number> {
  const config = loadConfig(processSources());
  const connection = await connectBroker(config.mq, config.connectTimeoutMs);
  await ensureQueue(connection, config.mq);
  const channel = await connection.createChannel();
  console.log(`watching ${config.mq.queue} at ${config.mq.where}; Ctrl-C to stop`);
  await channel.consume(
    config.mq.queue,
    (message) => {
      if (message) console.log(`${message.properties.messageId} ${message.content.toString("utf8")}`);
    },
    { noAck: true },
  );
  await new Promise<void>((resolve) => process.once("SIGINT", resolve));
  await connection.close().catch(() => {});
  return 0;
}

async function main(command: string | undefined): Promise<number> {
  try {
    if (command === "hello") return await runSql(HELLO_SQL);
    if (command === "sql") return await runSql(await new Response(Bun.stdin.stream()).text());
    if (command === "watch") return await watch();
    console.error(USAGE);
    return 2;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`try: configuration error: ${error.message}`);
      return 2;
    }
    console.error(`try: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.main) process.exit(await main(process.argv[2]));
