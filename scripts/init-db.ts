/**
 * Creates the database (POSTGRES_DB), loads scripts/schema.sql and installs the NOTIFY trigger on
 * SCHEDULER_NOTIFY_CHANNEL. It reads the configuration exactly as the binary does (environment,
 * then ./.env, then defaults), so it prepares the database the scheduler will use.
 * For first-time users and the quickstart only: in production the Rune API owns the tables.
 */
import { readFileSync } from "node:fs";
import { type Config, ConfigError, loadConfig, processSources } from "../src/config/config.ts";
import { explainDatabaseError } from "../src/observe/diagnose.ts";
import { createDatabase } from "../src/postgres/client.ts";
import { notifyTriggerSql } from "./notify-trigger.ts";

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(processSources());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`init-db: configuration error: ${error.message}`);
    return 2;
  }
  const options = { connectTimeoutMs: config.connectTimeoutMs, max: 1, applicationName: "rune-scheduler init-db" };
  const database = config.db.database;
  const admin = createDatabase({ ...config.db, database: "postgres" }, options);
  const sql = createDatabase(config.db, options);
  try {
    const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${database}`;
    if (!exists) {
      // An identifier cannot be a parameter; it is quoted here, doubled quotes and all.
      await admin.unsafe(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
      console.log(`init-db: created database ${database}`);
    }
    await sql.unsafe(readFileSync(new URL("./schema.sql", import.meta.url), "utf8"));
    console.log(`init-db: schema ready in ${database} (scripts/schema.sql)`);
    if (config.notifyChannel) {
      await sql.begin((tx) => tx.unsafe(notifyTriggerSql(config.notifyChannel!)));
      console.log(
        `init-db: trigger rune_schedules_notify installed: changes by the API NOTIFY "${config.notifyChannel}"`,
      );
    } else {
      console.log(
        "init-db: SCHEDULER_NOTIFY_CHANNEL is not set; no NOTIFY trigger installed (new rows wait for the next poll)",
      );
    }
    return 0;
  } catch (error) {
    console.error(`init-db: FAILED ${explainDatabaseError(error, config.db, config.connectTimeoutMs)}`);
    return 1;
  } finally {
    await Promise.all([admin.end({ timeout: 1 }), sql.end({ timeout: 1 })]);
  }
}

process.exitCode = await main();
