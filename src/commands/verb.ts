/**
 * What the operator verbs share: the ID argument, and one run shape (config, database, broker
 * when needed, one line or one JSON document, exit 0 / 1 / 2).
 */
import { userInfo } from "node:os";
import type { ArgsDef } from "citty";
import { EXIT } from "../cli/exit.ts";
import type { Config } from "../config/config.ts";
import { explainBrokerError, explainDatabaseError } from "../observe/diagnose.ts";
import { type MessageOptions, OperatorError } from "../operator/verbs.ts";
import { messageOptions, openDatabase, openPublisher } from "../parts.ts";
import type { AuditActor } from "../postgres/audit.ts";
import type { Sql } from "../postgres/client.ts";
import type { BrokerLink } from "../rabbitmq/link.ts";
import { parseScheduleId } from "../units.ts";
import { connectArgs, dbArgs, flagOf, jsonArg, logArgs, mqArgs, printJson, withConfig } from "./shared.ts";

/** What a verb that publishes takes: the database and broker `run` uses, and the message size limit it applies. */
export const publishingVerbArgs = {
  ...jsonArg,
  ...dbArgs,
  ...mqArgs,
  ...flagOf("SCHEDULER_MAX_MESSAGE_BYTES"),
  ...connectArgs,
  ...logArgs,
} as const satisfies ArgsDef;

export const idArg = {
  id: { type: "positional", description: "the schedule (scheduled_workflows.id)", valueHint: "ID", required: true },
} as const satisfies ArgsDef;

/** The schedule id argument, or null after saying why it is bad (exit code 2 set). */
export function scheduleIdArg(verb: string, value: unknown): number | null {
  const id = parseScheduleId(value);
  if (id === null) {
    process.exitCode = badArgument(
      verb,
      `ID ${JSON.stringify(value)} is invalid: expected a schedule id (a positive integer)`,
    );
  }
  return id;
}

/** A bad argument: one line, exit 2, nothing connected. */
export function badArgument(verb: string, message: string): number {
  process.stderr.write(`rune-scheduler: ${verb}: ${message}\n`);
  return EXIT.badConfig;
}

interface VerbContext {
  readonly config: Config;
  readonly sql: Sql;
  /** Present when the verb asked for the broker. */
  readonly publisher: BrokerLink | null;
  readonly messages: MessageOptions;
  /** Who the audit names: the OS user running the command. */
  readonly who: AuditActor;
}

/** The OS user's name, or their uid where the system has no name for it (a container's). */
function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? "unknown"}`;
  }
}

interface VerbResult {
  /** What stdout shows (text mode). */
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** Thrown by a verb's body for a failure that is already one explained line. */
class Explained extends Error {}

/**
 * Loads the config (exit 2 on a bad value), connects, runs `body`, prints its result (exit 0)
 * or one `FAILED …` line (exit 1): an OperatorError's own line, or where and why a connection failed.
 */
export function runVerb(
  args: Record<string, unknown>,
  verb: string,
  needsBroker: boolean,
  body: (context: VerbContext) => Promise<VerbResult>,
): Promise<number> {
  return withConfig(args, async (config) => {
    const json = args.json === true;
    const sql = openDatabase(config, { max: 1, applicationName: `rune-scheduler ${verb}` });
    let publisher: BrokerLink | null = null;
    const messages = messageOptions(config);
    try {
      if (needsBroker) {
        publisher = await openPublisher(config).catch((error: unknown) => {
          throw new Explained(explainBrokerError(error, config.mq, config.connectTimeoutMs));
        });
      }
      const who: AuditActor = { actor: `cli ${osUser()}`, source: "cli" };
      const result = await body({ config, sql, publisher, messages, who });
      if (json) printJson({ ok: true, command: verb, ...result.json });
      else process.stdout.write(`${result.text}\n`);
      return EXIT.ok;
    } catch (error) {
      const line =
        error instanceof OperatorError || error instanceof Explained
          ? error.message
          : explainDatabaseError(error, config.db, config.connectTimeoutMs);
      const failure =
        error instanceof OperatorError ? error.kind : error instanceof Explained ? "broker unreachable" : "database";
      if (json) printJson({ ok: false, command: verb, failure, error: line });
      else process.stderr.write(`FAILED ${line}\n`);
      return EXIT.failed;
    } finally {
      await publisher?.close().catch(() => {});
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  });
}
