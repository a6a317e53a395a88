/** The compiled binary as an operator runs it: help, usage errors, completion, version, config and start-up errors, streams, secrets, .env. */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "bun";
import { BINARY, runBinary, startBinary } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, type TestDatabase, type TestQueue, waitFor } from "../support/services.ts";

const COMMANDS = ["run", "check-db", "check-mq", "stats", "healthcheck"] as const;
/** The operator verbs (test/e2e/operator.test.ts covers them). */
const VERBS = ["trigger", "pause", "resume", "backfill", "history"] as const;
const plain = { NO_COLOR: "1" };

const scope = sharedScope();
let db: TestDatabase;
let queue: TestQueue;
beforeAll(async () => {
  ({ db, queue } = await scope.setup());
});

describe("help and version", () => {
  test("--version prints the package version and the commit it was built from", async () => {
    const { code, stdout } = await runBinary(["--version"], plain);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^0\.1\.0 \(commit [0-9a-f]{12}(-dirty)?\)$/);
    const sub = await runBinary(["check-db", "--version"], plain);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toBe(stdout);
  });

  test("bare rune-scheduler prints the help and exits 0; --help prints the same", async () => {
    const bare = await runBinary([], {});
    expect(bare.code).toBe(0);
    expect(bare.stderr).toBe("");
    const help = await runBinary(["--help"], {});
    expect(help.stdout).toBe(bare.stdout);
    expect(bare.stdout).toMatchInlineSnapshot(`
      "rune-scheduler: Publishes due PostgreSQL schedules to RabbitMQ, on time, once

      USAGE
        rune-scheduler <command> [OPTIONS]

      COMMANDS
        run          Run the scheduler service (exit 0 clean stop, 1 critical, 2 bad config)
        check-db     Check the PostgreSQL connection, tables, columns, index and invalid rows
        check-mq     Check the RabbitMQ connection, vhost and queue (passively)
        stats        Schedule health from the database, with live counters from a running instance when it answers
        healthcheck  Probe /healthz of the local instance (exit 0 healthy, 1 not): a HEALTHCHECK for images with no shell
        trigger      Publish one message for schedules now and record each as a fire (next_run_at stays)
        pause        Deactivate schedules, keeping the reason in last_error
        resume       Reactivate schedules at their next slot after now
        backfill     Publish the slots of a schedule in a past window, each with its own id (lists them without --yes; at most 1000)
        history      Fires and operator actions of one schedule, newest first, from the history tables
        completion   Print a shell completion script (bash or zsh)

      OPTIONS
        -h, --help     show this help
        -v, --version  print the version and the commit it was built from

      Run \`rune-scheduler <command> --help\` for a command's options. Each flag overrides its environment
      variable; ./.env is read too. Secrets have no flag (set them in the environment or *_FILE).
      ./.env is read from the working directory only: here /tmp/.env (none).
      Exit codes: 0 ok, 1 failed, 2 bad configuration or usage (each command's help says more).
      "
    `);
  });

  test("history --help: the schedule, the window and the database it reads", async () => {
    const { code, stdout } = await runBinary(["history", "--help"], {});
    expect(code).toBe(0);
    expect(stdout).toMatchInlineSnapshot(`
      "rune-scheduler history: Fires and operator actions of one schedule, newest first, from the history tables

      USAGE
        rune-scheduler history <ID> [OPTIONS]

      ARGUMENTS
        ID  the schedule (scheduled_workflows.id)

      OPTIONS
        --since <time>               only entries at or after this time (ISO 8601 with a zone)
        --limit <n>                  entries to show at most (default 50, at most 1000)
        --json                       print one JSON document
        --postgres-host <host>       PostgreSQL host, or several for failover (a,b:5433)  [POSTGRES_HOST, default db]
        --postgres-port <port>       PostgreSQL port  [POSTGRES_PORT, default 5432]
        --postgres-db <name>         database name  [POSTGRES_DB, default rune]
        --postgres-user <name>       database user  [POSTGRES_USER, default postgres]
        --connect-timeout <seconds>  seconds to open a connection, per host or node  [SCHEDULER_CONNECT_TIMEOUT, default 10]
        --log-level <level>          DEBUG, INFO, WARNING, ERROR or CRITICAL  [LOG_LEVEL, default INFO]
        --log-format <format>        text or json  [LOG_FORMAT, default text]
        -h, --help                   show this help
        --version                    print the version and the commit it was built from

      A flag overrides its variable; the environment overrides ./.env. Secrets have no flag.
      ./.env is read from the working directory only: here /tmp/.env (none).
      "
    `);
  });

  test("each command's --help lists only its own options, each with its variable and default", async () => {
    const help: Record<string, string> = {};
    for (const command of [...COMMANDS, "completion"]) {
      const { code, stdout, stderr } = await runBinary([command, "--help"], {});
      expect({ command, code, stderr }).toEqual({ command, code: 0, stderr: "" });
      expect(stdout).not.toMatch(/password|encryption-key|database-url|rabbitmq-url/i);
      help[command] = stdout;
    }
    expect(help.run).toMatchInlineSnapshot(`
      "rune-scheduler run: Run the scheduler service (exit 0 clean stop, 1 critical, 2 bad config)

      USAGE
        rune-scheduler run [OPTIONS]

      OPTIONS
        --postgres-host <host>             PostgreSQL host, or several for failover (a,b:5433)  [POSTGRES_HOST, default db]
        --postgres-port <port>             PostgreSQL port  [POSTGRES_PORT, default 5432]
        --postgres-db <name>               database name  [POSTGRES_DB, default rune]
        --postgres-user <name>             database user  [POSTGRES_USER, default postgres]
        --postgres-pooler <mode>           pool mode of a pooler in front of PostgreSQL: none, session or transaction  [POSTGRES_POOLER, default none]
        --rabbitmq-host <host>             RabbitMQ host, or several nodes (a,b:5673)  [RABBITMQ_HOST, default rabbitmq]
        --rabbitmq-port <port>             RabbitMQ port  [RABBITMQ_PORT, default 5672]
        --rabbitmq-user <name>             RabbitMQ user  [RABBITMQ_USER, default guest]
        --rabbitmq-queue <name>            durable queue the messages go to  [RABBITMQ_QUEUE, default workflow_queue]
        --rabbitmq-queue-type <type>       classic or quorum: the type declared when the queue is missing  [RABBITMQ_QUEUE_TYPE, default classic]
        --rabbitmq-tls <on|off>            on: AMQP over TLS (amqps, port 5671 unless --rabbitmq-port) for the RABBITMQ_HOST nodes  [RABBITMQ_TLS, default off]
        --rabbitmq-tls-ca <file>           PEM file of the CA(s) that sign the broker's certificate (cacertfile)  [RABBITMQ_TLS_CA, default unset]
        --rabbitmq-tls-cert <file>         PEM client certificate file (certfile)  [RABBITMQ_TLS_CERT, default unset]
        --rabbitmq-tls-key <file>          PEM key file of the client certificate (keyfile)  [RABBITMQ_TLS_KEY, default unset]
        --rabbitmq-tls-verify <mode>       verify_peer, or verify_none: no check of the broker's certificate (verify)  [RABBITMQ_TLS_VERIFY, default verify_peer]
        --rabbitmq-tls-server-name <name>  name sent (SNI) and checked instead of the host; disable: check the CA only  [RABBITMQ_TLS_SERVER_NAME, default unset]
        --rabbitmq-auth-mechanism <name>   plain, amqplain, or external: log in by the client certificate  [RABBITMQ_AUTH_MECHANISM, default plain]
        --poll-interval <seconds>          seconds between polls  [SCHEDULER_POLL_INTERVAL, default 30]
        --look-ahead <seconds>             seconds; a row due within it gets a precise timer  [SCHEDULER_LOOK_AHEAD, default 60]
        --batch-size <n>                   rows claimed per transaction  [SCHEDULER_BATCH_SIZE, default 500]
        --max-message-bytes <bytes>        a larger message is not sent (the fire is recorded as failed)  [SCHEDULER_MAX_MESSAGE_BYTES, default 16777216]
        --misfire-grace <seconds>          seconds; a later slot is skipped (0 = always fire once)  [SCHEDULER_MISFIRE_GRACE, default 0]
        --pause-after-failures <n>         deactivate a schedule after this many failed fires in a row (0 = never)  [SCHEDULER_PAUSE_AFTER_FAILURES, default 0]
        --max-retries <n>                  failed start-up attempts before exit 1 (0 = retry forever)  [SCHEDULER_MAX_RETRIES, default 5]
        --max-outage <seconds>             seconds without a dependency before exit 1 (0 = never)  [SCHEDULER_MAX_OUTAGE, default 0]
        --batch-bytes <bytes>              message bytes in flight per claim transaction  [SCHEDULER_BATCH_BYTES, default 16777216]
        --healthcheck-interval <seconds>   seconds between HEALTHCHECK log lines  [SCHEDULER_HEALTHCHECK_INTERVAL, default 300]
        --connect-timeout <seconds>        seconds to open a connection, per host or node  [SCHEDULER_CONNECT_TIMEOUT, default 10]
        --http-host <host>                 address of the health and metrics server  [SCHEDULER_HTTP_HOST, default 127.0.0.1]
        --http-port <port>                 port of the health and metrics server (0 = off)  [SCHEDULER_HTTP_PORT, default 8080]
        --http-tls-cert <file>             PEM certificate file: serve HTTPS (with --http-tls-key)  [SCHEDULER_HTTP_TLS_CERT, default unset]
        --http-tls-key <file>              PEM key file of that certificate  [SCHEDULER_HTTP_TLS_KEY, default unset]
        --http-tls-ca <file>               PEM CA file healthcheck and stats trust for an HTTPS instance  [SCHEDULER_HTTP_TLS_CA, default unset]
        --shutdown-timeout <seconds>       seconds to finish the batch in flight on SIGTERM/SIGINT  [SCHEDULER_SHUTDOWN_TIMEOUT, default 10]
        --notify-channel <channel>         PostgreSQL channel to LISTEN on for an immediate poll  [SCHEDULER_NOTIFY_CHANNEL, default unset]
        --console <mode>                   read-only: the console without a token or actions; off: no console even with a token  [SCHEDULER_CONSOLE, default unset]
        --console-hosts <hosts>            more Host names the console answers to (name or name:port, comma-separated)  [SCHEDULER_CONSOLE_HOSTS, default unset]
        --instance-name <name>             this replica's name in the fire history (default host:pid)  [SCHEDULER_INSTANCE_NAME, default unset]
        --history-retention <seconds>      seconds fire history rows are kept (0 = no age limit)  [SCHEDULER_HISTORY_RETENTION, default 604800]
        --history-keep <n>                 fire history rows kept per schedule, the newest (0 = no count limit)  [SCHEDULER_HISTORY_KEEP, default 0]
        --audit-retention <seconds>        seconds operator audit rows are kept (0 = forever)  [SCHEDULER_AUDIT_RETENTION, default 7776000]
        --log-level <level>                DEBUG, INFO, WARNING, ERROR or CRITICAL  [LOG_LEVEL, default INFO]
        --log-format <format>              text or json  [LOG_FORMAT, default text]
        -h, --help                         show this help
        --version                          print the version and the commit it was built from

      A flag overrides its variable; the environment overrides ./.env. Secrets have no flag.
      ./.env is read from the working directory only: here /tmp/.env (none).
      "
    `);
    expect(help["check-db"]).toMatchInlineSnapshot(`
      "rune-scheduler check-db: Check the PostgreSQL connection, tables, columns, index and invalid rows

      USAGE
        rune-scheduler check-db [OPTIONS]

      OPTIONS
        --json                       print one JSON document
        --postgres-host <host>       PostgreSQL host, or several for failover (a,b:5433)  [POSTGRES_HOST, default db]
        --postgres-port <port>       PostgreSQL port  [POSTGRES_PORT, default 5432]
        --postgres-db <name>         database name  [POSTGRES_DB, default rune]
        --postgres-user <name>       database user  [POSTGRES_USER, default postgres]
        --connect-timeout <seconds>  seconds to open a connection, per host or node  [SCHEDULER_CONNECT_TIMEOUT, default 10]
        --log-level <level>          DEBUG, INFO, WARNING, ERROR or CRITICAL  [LOG_LEVEL, default INFO]
        --log-format <format>        text or json  [LOG_FORMAT, default text]
        -h, --help                   show this help
        --version                    print the version and the commit it was built from

      A flag overrides its variable; the environment overrides ./.env. Secrets have no flag.
      ./.env is read from the working directory only: here /tmp/.env (none).
      "
    `);
    expect(help["check-mq"]).toMatchInlineSnapshot(`
      "rune-scheduler check-mq: Check the RabbitMQ connection, vhost and queue (passively)

      USAGE
        rune-scheduler check-mq [OPTIONS]

      OPTIONS
        --json                             print one JSON document
        --rabbitmq-host <host>             RabbitMQ host, or several nodes (a,b:5673)  [RABBITMQ_HOST, default rabbitmq]
        --rabbitmq-port <port>             RabbitMQ port  [RABBITMQ_PORT, default 5672]
        --rabbitmq-user <name>             RabbitMQ user  [RABBITMQ_USER, default guest]
        --rabbitmq-queue <name>            durable queue the messages go to  [RABBITMQ_QUEUE, default workflow_queue]
        --rabbitmq-queue-type <type>       classic or quorum: the type declared when the queue is missing  [RABBITMQ_QUEUE_TYPE, default classic]
        --rabbitmq-tls <on|off>            on: AMQP over TLS (amqps, port 5671 unless --rabbitmq-port) for the RABBITMQ_HOST nodes  [RABBITMQ_TLS, default off]
        --rabbitmq-tls-ca <file>           PEM file of the CA(s) that sign the broker's certificate (cacertfile)  [RABBITMQ_TLS_CA, default unset]
        --rabbitmq-tls-cert <file>         PEM client certificate file (certfile)  [RABBITMQ_TLS_CERT, default unset]
        --rabbitmq-tls-key <file>          PEM key file of the client certificate (keyfile)  [RABBITMQ_TLS_KEY, default unset]
        --rabbitmq-tls-verify <mode>       verify_peer, or verify_none: no check of the broker's certificate (verify)  [RABBITMQ_TLS_VERIFY, default verify_peer]
        --rabbitmq-tls-server-name <name>  name sent (SNI) and checked instead of the host; disable: check the CA only  [RABBITMQ_TLS_SERVER_NAME, default unset]
        --rabbitmq-auth-mechanism <name>   plain, amqplain, or external: log in by the client certificate  [RABBITMQ_AUTH_MECHANISM, default plain]
        --connect-timeout <seconds>        seconds to open a connection, per host or node  [SCHEDULER_CONNECT_TIMEOUT, default 10]
        --log-level <level>                DEBUG, INFO, WARNING, ERROR or CRITICAL  [LOG_LEVEL, default INFO]
        --log-format <format>              text or json  [LOG_FORMAT, default text]
        -h, --help                         show this help
        --version                          print the version and the commit it was built from

      A flag overrides its variable; the environment overrides ./.env. Secrets have no flag.
      ./.env is read from the working directory only: here /tmp/.env (none).
      "
    `);
    expect(help.stats).toMatchInlineSnapshot(`
      "rune-scheduler stats: Schedule health from the database, with live counters from a running instance when it answers

      USAGE
        rune-scheduler stats [OPTIONS]

      OPTIONS
        --json                       print one JSON document
        --url <http://host:port>     base URL of the instance to ask (default http://SCHEDULER_HTTP_HOST:SCHEDULER_HTTP_PORT)
        --postgres-host <host>       PostgreSQL host, or several for failover (a,b:5433)  [POSTGRES_HOST, default db]
        --postgres-port <port>       PostgreSQL port  [POSTGRES_PORT, default 5432]
        --postgres-db <name>         database name  [POSTGRES_DB, default rune]
        --postgres-user <name>       database user  [POSTGRES_USER, default postgres]
        --poll-interval <seconds>    seconds between polls  [SCHEDULER_POLL_INTERVAL, default 30]
        --http-host <host>           address of the health and metrics server  [SCHEDULER_HTTP_HOST, default 127.0.0.1]
        --http-port <port>           port of the health and metrics server (0 = off)  [SCHEDULER_HTTP_PORT, default 8080]
        --http-tls-cert <file>       PEM certificate file: serve HTTPS (with --http-tls-key)  [SCHEDULER_HTTP_TLS_CERT, default unset]
        --http-tls-key <file>        PEM key file of that certificate  [SCHEDULER_HTTP_TLS_KEY, default unset]
        --http-tls-ca <file>         PEM CA file healthcheck and stats trust for an HTTPS instance  [SCHEDULER_HTTP_TLS_CA, default unset]
        --connect-timeout <seconds>  seconds to open a connection, per host or node  [SCHEDULER_CONNECT_TIMEOUT, default 10]
        --log-level <level>          DEBUG, INFO, WARNING, ERROR or CRITICAL  [LOG_LEVEL, default INFO]
        --log-format <format>        text or json  [LOG_FORMAT, default text]
        -h, --help                   show this help
        --version                    print the version and the commit it was built from

      A flag overrides its variable; the environment overrides ./.env. Secrets have no flag.
      ./.env is read from the working directory only: here /tmp/.env (none).
      "
    `);
    expect(help.healthcheck).toMatchInlineSnapshot(`
      "rune-scheduler healthcheck: Probe /healthz of the local instance (exit 0 healthy, 1 not): a HEALTHCHECK for images with no shell

      USAGE
        rune-scheduler healthcheck [OPTIONS]

      OPTIONS
        --url <http://host:port>  base URL of the instance to ask (default http://SCHEDULER_HTTP_HOST:SCHEDULER_HTTP_PORT)
        --http-host <host>        address of the health and metrics server  [SCHEDULER_HTTP_HOST, default 127.0.0.1]
        --http-port <port>        port of the health and metrics server (0 = off)  [SCHEDULER_HTTP_PORT, default 8080]
        --http-tls-cert <file>    PEM certificate file: serve HTTPS (with --http-tls-key)  [SCHEDULER_HTTP_TLS_CERT, default unset]
        --http-tls-key <file>     PEM key file of that certificate  [SCHEDULER_HTTP_TLS_KEY, default unset]
        --http-tls-ca <file>      PEM CA file healthcheck and stats trust for an HTTPS instance  [SCHEDULER_HTTP_TLS_CA, default unset]
        -h, --help                show this help
        --version                 print the version and the commit it was built from

      A flag overrides its variable; the environment overrides ./.env. Secrets have no flag.
      ./.env is read from the working directory only: here /tmp/.env (none).
      "
    `);
    expect(help.completion).toMatchInlineSnapshot(`
      "rune-scheduler completion: Print a shell completion script (bash or zsh)

      USAGE
        rune-scheduler completion <SHELL>

      ARGUMENTS
        SHELL  bash or zsh

      OPTIONS
        -h, --help  show this help
        --version   print the version and the commit it was built from
      "
    `);
  });

  test("help is coloured on a terminal only, and never with NO_COLOR", async () => {
    const ESC = "\u001B[";
    expect((await runBinary(["check-db", "--help"], {})).stdout).not.toContain(ESC);
    // `script` gives the binary a terminal for stdout.
    const onTty = (env: string) =>
      $`script -qec ${`env ${env} ${BINARY} check-db --help`} /dev/null`.nothrow().quiet().text();
    expect(await onTty("TERM=xterm")).toContain(`${ESC}36m--postgres-host`);
    expect(await onTty("TERM=xterm NO_COLOR=1")).not.toContain(ESC);
  });
});

describe("usage errors exit 2 with a suggestion", () => {
  const cases: [string[], string][] = [
    [
      ["chek-db"],
      'rune-scheduler: unknown command "chek-db"; did you mean check-db?\nRun `rune-scheduler --help` for usage.\n',
    ],
    [["--bogus-flag"], "rune-scheduler: unknown option --bogus-flag\nRun `rune-scheduler --help` for usage.\n"],
    [
      ["check-db", "--bogus-flag"],
      "rune-scheduler: unknown option --bogus-flag for check-db\nRun `rune-scheduler check-db --help` for usage.\n",
    ],
    [
      ["check-db", "--postgres-hots", "h"],
      "rune-scheduler: unknown option --postgres-hots for check-db; did you mean --postgres-host?\nRun `rune-scheduler check-db --help` for usage.\n",
    ],
    [
      ["check-db", "--poll-interval", "5"],
      "rune-scheduler: unknown option --poll-interval for check-db: it is an option of run, stats\nRun `rune-scheduler check-db --help` for usage.\n",
    ],
    [
      ["check-db", "-x"],
      "rune-scheduler: unknown option -x for check-db\nRun `rune-scheduler check-db --help` for usage.\n",
    ],
    [
      ["run", "--poll-interval"],
      "rune-scheduler: --poll-interval needs a value (--poll-interval <seconds> or --poll-interval=<seconds>)\nRun `rune-scheduler run --help` for usage.\n",
    ],
    [
      ["check-db", "--json=yes"],
      'rune-scheduler: --json takes no value (got "yes")\nRun `rune-scheduler check-db --help` for usage.\n',
    ],
    [
      ["stats", "extra"],
      'rune-scheduler: stats takes no arguments, got "extra"\nRun `rune-scheduler stats --help` for usage.\n',
    ],
    [["completion"], "rune-scheduler: completion needs SHELL\nRun `rune-scheduler completion --help` for usage.\n"],
    [["completion", "fish"], 'rune-scheduler completion: unknown shell "fish"; expected bash or zsh\n'],
  ];
  for (const [args, expected] of cases) {
    test(`rune-scheduler ${args.join(" ")}`, async () => {
      const { code, stdout, stderr } = await runBinary(args, {});
      expect({ code, stdout, stderr }).toEqual({ code: 2, stdout: "", stderr: expected });
    });
  }
});

test("healthcheck's usage errors exit 1, never 2 (Docker reserves 2 in a HEALTHCHECK)", async () => {
  const { code, stderr } = await runBinary(["healthcheck", "--urll", "http://x"], {});
  expect(stderr).toBe(
    "rune-scheduler: unknown option --urll for healthcheck; did you mean --url?\nRun `rune-scheduler healthcheck --help` for usage.\n",
  );
  expect(code).toBe(1);
});

describe("completion", () => {
  test("completion bash is valid bash and completes commands, flags and values", async () => {
    const { code, stdout } = await runBinary(["completion", "bash"], {});
    expect(code).toBe(0);
    const file = join(mkdtempSync(join(tmpdir(), "rune-completion-")), "rune-scheduler.bash");
    writeFileSync(file, stdout);
    expect((await $`bash -n ${file}`.nothrow().quiet()).exitCode).toBe(0);
    const complete = async (...words: string[]) =>
      (
        await $`bash -c ${`source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _rune_scheduler; echo "\${COMPREPLY[*]}"`}`.text()
      ).trim();
    expect(await complete("rune-scheduler", "")).toBe(
      [...COMMANDS, ...VERBS, "completion", "--help", "--version"].join(" "),
    );
    expect(await complete("rune-scheduler", "che")).toBe("check-db check-mq");
    expect(await complete("rune-scheduler", "check-db", "--postgres-h")).toBe("--postgres-host");
    expect(await complete("rune-scheduler", "run", "--log-level", "")).toBe("DEBUG INFO WARNING ERROR CRITICAL");
    expect(await complete("rune-scheduler", "completion", "")).toBe("bash zsh --help");
  });

  test("completion zsh is a #compdef script naming every command and its flags", async () => {
    const { code, stdout } = await runBinary(["completion", "zsh"], {});
    expect(code).toBe(0);
    expect(stdout.split("\n")[0]).toBe("#compdef rune-scheduler");
    for (const command of [...COMMANDS, "completion"]) expect(stdout).toContain(`\n        ${command}) _arguments `);
    expect(stdout).toContain("'--poll-interval[seconds between polls]:poll-interval: '");
    expect(stdout).toContain(
      "'--log-level[DEBUG, INFO, WARNING, ERROR or CRITICAL]:log-level:(DEBUG INFO WARNING ERROR CRITICAL)'",
    );
  });
});

describe("run start-up failures: one named line, no stack trace", () => {
  const noStack = (output: string) => {
    expect(output).not.toMatch(/^\s+at /m);
    expect(output).not.toContain("$bunfs");
  };

  test("a second instance on a taken HTTP port exits 1 with one line saying what to do", async () => {
    const port = await freePort();
    const first = startBinary(["run"], { ...db.env, ...queue.env, SCHEDULER_HTTP_PORT: String(port) });
    try {
      await first.waitForLine(/HTTP health and metrics on/);
      const second = await runBinary(["run"], { ...db.env, ...queue.env, SCHEDULER_HTTP_PORT: String(port) });
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(
        new RegExp(
          `^\\S+Z CRITICAL SCHEDULER_HTTP_PORT=${port} is already in use on 127\\.0\\.0\\.1; give each instance on a host its own port, or 0 to turn the server off\\n$`,
        ),
      );
      noStack(second.stdout + second.stderr);
      // Nothing was connected: the port is checked first.
      expect(second.stdout).not.toContain("connection");
      const flagged = await runBinary(["run", "--http-port", String(port)], { ...db.env, ...queue.env });
      expect(flagged.code).toBe(1);
      expect(flagged.stderr).toContain(`CRITICAL --http-port=${port} is already in use on 127.0.0.1;`);
    } finally {
      await first.stop("SIGKILL");
    }
  });

  test("an HTTP host that is not this machine's exits 2 naming it", async () => {
    const { code, stdout, stderr } = await runBinary(["run"], {
      ...db.env,
      ...queue.env,
      SCHEDULER_HTTP_HOST: "10.255.255.1",
      SCHEDULER_HTTP_PORT: "18080",
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^\S+Z CRITICAL SCHEDULER_HTTP_HOST="10\.255\.255\.1" is not an address of this machine, so the HTTP server cannot listen there; use 127\.0\.0\.1, 0\.0\.0\.0 \(every interface\) or an address this host has\n$/,
    );
    noStack(stdout + stderr);
  });

  test("a .env that exists but cannot be read exits 2 naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rune-env-dir-"));
    mkdirSync(join(dir, ".env"));
    const { code, stdout, stderr } = await runBinary(["run"], {}, { cwd: dir });
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toBe(
      `rune-scheduler: configuration error: .env="${dir}/.env" is invalid: expected a readable file (EISDIR), or none\n`,
    );
  });
});

describe("configuration errors", () => {
  test("SCHEDULER_POLL_INTERVAL=abc: every command exits 2 with one line naming the variable", async () => {
    for (const command of COMMANDS.filter((c) => c !== "healthcheck")) {
      const { code, stdout, stderr } = await runBinary([command], { ...plain, SCHEDULER_POLL_INTERVAL: "abc" });
      expect({ command, code }).toEqual({ command, code: 2 });
      expect(stdout).toBe("");
      expect(stderr).toBe(
        'rune-scheduler: configuration error: SCHEDULER_POLL_INTERVAL="abc" is invalid: expected a number of seconds from 0.001 to 2147483.647\n',
      );
    }
  });

  test("healthcheck answers a bad config with 1 (docs/commands.md §2: 0 healthy, 1 not; Docker reserves 2), naming the variable", async () => {
    const { code, stdout, stderr } = await runBinary(["healthcheck"], { ...plain, SCHEDULER_POLL_INTERVAL: "abc" });
    expect(code).toBe(1);
    expect(stdout + stderr).toContain(
      'SCHEDULER_POLL_INTERVAL="abc" is invalid: expected a number of seconds from 0.001 to 2147483.647',
    );
  });

  test("a bad value is refused before any connection is tried", async () => {
    // An unroutable host would make a connection attempt hang; exit 2 must come at once.
    const started = performance.now();
    const { code } = await runBinary(["run"], { POSTGRES_HOST: "10.255.255.1", LOG_FORMAT: "yaml" });
    expect(code).toBe(2);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test("a CLI flag overrides the environment, and its bad value is reported as the flag typed", async () => {
    const { code, stderr } = await runBinary(["check-db", "--connect-timeout", "0"], {
      SCHEDULER_CONNECT_TIMEOUT: "5",
    });
    expect(code).toBe(2);
    expect(stderr).toBe(
      'rune-scheduler: configuration error: --connect-timeout="0" is invalid: expected a number of seconds from 0.001 to 2147483.647\n',
    );
    const run = await runBinary(["run", "--poll-interval=abc"], {});
    expect(run.stderr).toBe(
      'rune-scheduler: configuration error: --poll-interval="abc" is invalid: expected a number of seconds from 0.001 to 2147483.647\n',
    );
    expect(run.code).toBe(2);
  });

  test("a .env file in the working directory is honoured, and the environment beats it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rune-env-"));
    writeFileSync(join(dir, ".env"), `POSTGRES_HOST=127.0.0.1\nPOSTGRES_DB=${db.name}\nSCHEDULER_BATCH_SIZE=0\n`);
    const bad = await runBinary(["check-db"], {}, { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('SCHEDULER_BATCH_SIZE="0" is invalid');
    const good = await runBinary(["check-db"], { SCHEDULER_BATCH_SIZE: "10" }, { cwd: dir });
    expect(good.stdout).toContain(`at postgres@127.0.0.1:5432/${db.name}`);
    expect(good.code).toBe(0);
  });
});

describe("where each value came from", () => {
  test("run elsewhere, POSTGRES_HOST falls back to its default, and the connection error says so and where .env was looked for", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rune-no-env-"));
    // POSTGRES_HOST is left to its default "db", which does not resolve here.
    const { code, stderr } = await runBinary(["check-db"], { ...plain, POSTGRES_PORT: "1" }, { cwd: dir });
    expect(code).toBe(1);
    expect(stderr).toContain(
      `; in effect: POSTGRES_HOST=db (default; no ./.env in ${dir}); POSTGRES_PORT=1 (from the environment)`,
    );
  });

  test("values from ./.env and from flags are named as such", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rune-env-origin-"));
    writeFileSync(join(dir, ".env"), "POSTGRES_HOST=127.0.0.1\nRABBITMQ_HOST=127.0.0.1\n");
    const db = await runBinary(["check-db", "--postgres-port", "1"], plain, { cwd: dir });
    expect(db.stderr.replaceAll(dir, "<dir>")).toMatchInlineSnapshot(`
      "FAILED PostgreSQL refused the connection at 127.0.0.1:1; is it running and listening there? check POSTGRES_HOST/POSTGRES_PORT; in effect: POSTGRES_HOST=127.0.0.1 (from ./.env at <dir>/.env); POSTGRES_PORT=1 (from --postgres-port)
      "
    `);
    const mq = await runBinary(["check-mq"], { ...plain, RABBITMQ_PORT: "1" }, { cwd: dir });
    expect(mq.stderr.replaceAll(dir, "<dir>")).toMatchInlineSnapshot(`
      "FAILED RabbitMQ refused the connection at amqp://guest:***@127.0.0.1:1; is it running and listening there? check RABBITMQ_HOST/RABBITMQ_PORT; in effect: RABBITMQ_HOST=127.0.0.1 (from ./.env at <dir>/.env); RABBITMQ_PORT=1 (from the environment)
      "
    `);
  });
});

describe("log streams and secrets", () => {
  const SECRETS = {
    POSTGRES_PASSWORD: "Pg-Sekr1t-zq9",
    RABBITMQ_PASSWORD: "Mq-Sekr1t-zq9",
    ENCRYPTION_KEY: "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
  };
  const leaks = (text: string) => Object.values(SECRETS).filter((secret) => text.includes(secret));

  test("INFO goes to stdout and ERROR/CRITICAL to stderr; no secret appears in any command's output", async () => {
    const failing = {
      ...SECRETS,
      POSTGRES_HOST: "127.0.0.1",
      POSTGRES_PORT: "1",
      RABBITMQ_HOST: "127.0.0.1",
      RABBITMQ_PORT: "1",
      SCHEDULER_MAX_RETRIES: "1",
      LOG_LEVEL: "debug",
    };
    const run = await runBinary(["run"], failing);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^\S+Z INFO rune-scheduler 0\.1\.0/m);
    expect(run.stdout).not.toMatch(/ (ERROR|CRITICAL|WARNING) /);
    expect(run.stderr).toMatch(/^\S+Z CRITICAL PostgreSQL failed 1 consecutive times\b.*; giving up/m);
    expect(run.stderr).not.toMatch(/ INFO /);
    const outputs = [run.stdout, run.stderr];
    for (const command of ["check-db", "check-mq", "stats", "healthcheck", "--help"]) {
      const result = await runBinary([command], failing);
      outputs.push(result.stdout, result.stderr);
    }
    const urls = {
      DATABASE_URL: `postgres://u:${SECRETS.POSTGRES_PASSWORD}@127.0.0.1:1/x`,
      RABBITMQ_URL: `amqp://u:${SECRETS.RABBITMQ_PASSWORD}@127.0.0.1:1/vh`,
    };
    for (const command of ["check-db", "check-mq", "--help"]) {
      const result = await runBinary([command, "--json"], urls);
      outputs.push(result.stdout, result.stderr);
    }
    const bad = await runBinary(["run"], { DATABASE_URL: `mysql://u:${SECRETS.POSTGRES_PASSWORD}@h/db` });
    outputs.push(bad.stdout, bad.stderr);
    expect(leaks(outputs.join("\n"))).toEqual([]);
  });

  test("a running scheduler at DEBUG, sealing messages, logs neither the key nor the clear workflow_data", async () => {
    await insertSchedules(db.sql, [{ dueInMs: -10, intervalSeconds: 3600, data: { token: "clear-Sekr1t-data" } }]);
    await queue.consume();
    // guest's real password is needed to publish; the other secrets are as distinctive as above.
    const { RABBITMQ_PASSWORD: _, ...secrets } = SECRETS;
    const scheduler = startBinary(["run"], {
      ...db.env,
      ...queue.env,
      ...secrets,
      LOG_LEVEL: "DEBUG",
      LOG_FORMAT: "json",
    });
    try {
      await waitFor("the message", () => queue.messages[0]);
      expect(queue.messages[0]!.body).toHaveProperty("workflow_data_encrypted");
      expect(await scheduler.stop("SIGTERM")).toBe(0);
      const output = scheduler.output();
      expect(leaks(output)).toEqual([]);
      expect(output).not.toContain("clear-Sekr1t-data");
      for (const line of output.trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow();
      expect(output).toContain('"msg":"Database connection pool established"');
    } finally {
      await scheduler.stop("SIGKILL");
    }
  });
});
