import { defineCommand, runMain } from "citty";
import checkDb from "./commands/check-db.ts";
import checkMq from "./commands/check-mq.ts";
import healthcheck from "./commands/healthcheck.ts";
import run from "./commands/run.ts";
import stats from "./commands/stats.ts";
import { VERSION_LINE } from "./version.ts";

const main = defineCommand({
  meta: {
    name: "rune-scheduler",
    version: VERSION_LINE,
    description: "Publishes due PostgreSQL schedules to RabbitMQ, on time, once",
  },
  subCommands: {
    run,
    "check-db": checkDb,
    "check-mq": checkMq,
    stats,
    healthcheck,
  },
});

// No top-level await: the compiled binary is built with bytecode, which needs a CommonJS-shaped entry.
void runMain(main).then(() => {
  // Open sockets (a pool closing, a heartbeat timer) must not keep a finished command alive.
  process.exit(process.exitCode ?? 0);
});
