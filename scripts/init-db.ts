/**
 * Creates POSTGRES_DB (default rune) and loads scripts/schema.sql when the tables are missing.
 * For first-time users and the quickstart only: in production the Rune API owns the tables.
 */
import postgres from "postgres";
import { readFileSync } from "node:fs";

const env = process.env;
const options = {
  host: env.POSTGRES_HOST ?? "127.0.0.1",
  port: Number(env.POSTGRES_PORT ?? 5432),
  username: env.POSTGRES_USER ?? "postgres",
  password: env.POSTGRES_PASSWORD ?? "postgres",
  onnotice: () => {},
  max: 1,
};
const database = env.POSTGRES_DB ?? "rune";

const admin = postgres({ ...options, database: "postgres" });
const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${database}`;
if (!exists) {
  await admin.unsafe(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  console.log(`init-db: created database ${database}`);
}
await admin.end();

const sql = postgres({ ...options, database });
await sql.unsafe(readFileSync(new URL("./schema.sql", import.meta.url), "utf8"));
console.log(`init-db: schema ready in ${database} (scripts/schema.sql)`);
await sql.end();
