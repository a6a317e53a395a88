import { defineCommand } from "citty";
import { EXIT } from "../cli/exit.ts";
import { explainStartupFailure } from "../cli/startup.ts";
import { flagName } from "../config/settings.ts";
import { type Service, startService } from "../service.ts";
import { configArgs, flagsFrom, withConfig } from "./shared.ts";

const SIGNAL_DEBOUNCE_MS = 500;

export default defineCommand({
  meta: { name: "run", description: "Run the scheduler service (exit 0 clean stop, 1 critical, 2 bad config)" },
  args: { ...configArgs },
  async run({ args }) {
    process.exitCode = await withConfig(args, async (config, log) => {
      let service: Service | null = null;
      /** An error nothing handled: log it with its stack, stop as cleanly as time allows, exit 1. */
      const fatal = (what: string, reason: unknown) => {
        log.critical(`${what}; shutting down`, { error: reason instanceof Error ? reason : new Error(String(reason)) });
        setTimeout(() => process.exit(EXIT.failed), config.shutdownTimeoutMs).unref();
        void (service?.stop() ?? Promise.resolve()).finally(() => process.exit(EXIT.failed));
      };
      process.on("unhandledRejection", (reason) => fatal("Unhandled rejection", reason));
      process.on("uncaughtException", (error) => fatal("Uncaught exception", error));
      try {
        service = await startService(config, log);
      } catch (error) {
        // One named line and the exit code docs/commands.md §2 gives it; a stack trace helps nobody here.
        const flags = flagsFrom(args);
        const failure = explainStartupFailure(error, config, (env) =>
          flags[env] !== undefined ? `--${flagName(env)}` : env,
        );
        log.critical(failure.line);
        return failure.exitCode;
      }
      let firstSignalAt: number | null = null;
      const onSignal = (signal: NodeJS.Signals) => {
        // `timeout`, shells and some supervisors deliver one stop to the process and again to
        // its group; only a signal a moment later is a person insisting.
        if (firstSignalAt !== null) {
          if (performance.now() - firstSignalAt < SIGNAL_DEBOUNCE_MS) return;
          log.warn(`Second ${signal}: exiting now`);
          process.exit(EXIT.failed);
        }
        firstSignalAt = performance.now();
        log.info(`${signal} received; finishing the batch in flight (at most ${config.shutdownTimeoutMs / 1000}s)`);
        const deadline = setTimeout(() => {
          log.warn("Shutdown timeout reached; exiting with work unfinished (unconfirmed rows fire again)");
          process.exit(EXIT.ok);
        }, config.shutdownTimeoutMs);
        deadline.unref();
        void service.stop();
      };
      // SIGHUP: the HTTPS certificate and key were replaced; serve them now rather than at the next look.
      // Only with HTTPS served: otherwise SIGHUP keeps its default meaning (the process ends).
      if (config.httpTls && config.httpPort !== 0) process.on("SIGHUP", () => service.reloadHttpTls("SIGHUP"));
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      const code = await service.done;
      if (code !== 0) log.critical(`Scheduler stopped: ${service.stopReason() ?? "a dependency stayed unavailable"}`);
      return code === 0 ? EXIT.ok : EXIT.failed;
    });
  },
});
