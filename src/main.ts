import { type CommandDef, defineCommand } from "citty";
import { completionCommand } from "./cli/completion.ts";
import { runCli } from "./cli/runner.ts";
import checkDb from "./commands/check-db.ts";
import checkMq from "./commands/check-mq.ts";
import healthcheck from "./commands/healthcheck.ts";
import history from "./commands/history.ts";
import run from "./commands/run.ts";
import stats from "./commands/stats.ts";
import { backfill, pause, resume, trigger } from "./commands/verbs.ts";
import { messageOf } from "./error-text.ts";
import { VERSION_LINE } from "./version.ts";

const PROGRAM = "rune-scheduler";

const main: CommandDef = defineCommand({
  meta: {
    name: PROGRAM,
    version: VERSION_LINE,
    description: "Publishes due PostgreSQL schedules to RabbitMQ, on time, once",
  },
  subCommands: {
    run,
    "check-db": checkDb,
    "check-mq": checkMq,
    stats,
    healthcheck,
    trigger,
    pause,
    resume,
    backfill,
    history,
    completion: completionCommand(PROGRAM, () => main),
  },
});

// No top-level await: the compiled binary is built with bytecode, which needs a CommonJS-shaped entry.
// healthcheck never exits 2, not even for a typo in a HEALTHCHECK line: Docker reserves that code.
void runCli(PROGRAM, VERSION_LINE, main, process.argv.slice(2), { usageExitCodes: { healthcheck: 1 } }).then(
  // Open sockets (a pool closing, a heartbeat timer) must not keep a finished command alive.
  (code) => process.exit(code),
  (error: unknown) => {
    // Nothing should reach here; if something does, one line, not a minified stack.
    process.stderr.write(`${PROGRAM}: unexpected error: ${messageOf(error)}\n`);
    process.exit(1);
  },
);
