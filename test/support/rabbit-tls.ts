/**
 * A RabbitMQ node of the test's own with a TLS listener that requires a client certificate
 * (`fail_if_no_peer_cert`) and offers EXTERNAL (rabbitmq_auth_mechanism_ssl) beside PLAIN and
 * AMQPLAIN, plus a plain listener. It runs beside the shared node as scripts/ha/rig.sh runs its
 * nodes: its own name, ports, distribution port and directories, as the rabbitmq user; epmd is
 * shared. Start it once per file (it takes ~10 s) and stop it in afterAll.
 *
 * THE SHARED NODE (rabbit@localhost, 5672/25672) IS NEVER ADDRESSED: every rabbitmqctl call
 * passes -n with this node's name.
 */
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Issued, TestCa } from "./test-ca.ts";

const RMQ_BIN = "/usr/lib/rabbitmq/bin"; // not /usr/sbin: that wrapper re-runs itself through su, dropping our environment
const RMQ_HOME = "/var/lib/rabbitmq"; // holds the system's Erlang cookie, which the CLI finds through HOME

export interface TlsNodeOptions {
  /** e.g. conn-mq-tls@localhost: never rabbit@localhost. */
  readonly name: string;
  /** Under /tmp; removed and made afresh. */
  readonly dir: string;
  readonly amqpPort: number;
  readonly tlsPort: number;
  readonly distPort: number;
  readonly ca: TestCa;
  /** The server certificate and key the TLS listener presents. */
  readonly server: Issued;
}

export interface TlsNode {
  readonly name: string;
  readonly amqpPort: number;
  readonly tlsPort: number;
  /** rabbitmqctl against this node only; resolves with stdout, throws with stderr. */
  ctl(...args: string[]): Promise<string>;
  /** Makes a user with every permission on vhost "/" (a password, or none for EXTERNAL only). */
  addUser(name: string, password?: string): Promise<void>;
  /** The users of the open client connections, as the node reports them. */
  connectionUsers(): Promise<string[]>;
  stop(): Promise<void>;
}

function env(options: TlsNodeOptions): Record<string, string> {
  const d = options.dir;
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: RMQ_HOME,
    RABBITMQ_NODENAME: options.name,
    RABBITMQ_NODE_PORT: String(options.amqpPort),
    RABBITMQ_DIST_PORT: String(options.distPort),
    RABBITMQ_CONFIG_FILE: join(d, "rabbitmq.conf"),
    RABBITMQ_CONF_ENV_FILE: join(d, "rabbitmq-env.conf"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(d, "enabled_plugins"),
    RABBITMQ_MNESIA_BASE: join(d, "mnesia"),
    RABBITMQ_LOG_BASE: join(d, "log"),
    RABBITMQ_PID_FILE: join(d, "beam.pid"),
    ERL_EPMD_ADDRESS: "127.0.0.1",
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
  };
}

const asRabbit = (argv: string[]) => ["setpriv", "--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups", ...argv];

async function run(options: TlsNodeOptions, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(asRabbit(argv), { cwd: RMQ_HOME, env: env(options), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, out, err };
}

function rabbitIds(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("rabbitmq:"));
  if (!line) throw new Error("no rabbitmq user: install rabbitmq-server (scripts/test-deps.sh)");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** A node left running by a run that was killed before its afterAll holds our ports: end it by its own pid file. */
function killLeftover(pidFile: string): void {
  let pid = 0;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
  } catch {
    return; // no earlier node
  }
  if (!(pid > 0)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return; // already gone
  }
  // The kernel frees the listening ports once the process is gone.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    Bun.sleepSync(50); // waiting for a killed process to be reaped, bounded
  }
}

/** Writes the node's files and starts it; resolves once it accepts connections on both listeners. */
export async function startTlsNode(options: TlsNodeOptions): Promise<TlsNode> {
  if (options.name.startsWith("rabbit@")) throw new Error("refusing to address the shared node");
  const d = options.dir;
  killLeftover(join(d, "beam.pid"));
  rmSync(d, { recursive: true, force: true });
  for (const sub of ["", "mnesia", "log", "certs"]) mkdirSync(join(d, sub), { recursive: true });
  // The node runs as rabbitmq and cannot read the test's private directory: its own copies.
  copyFileSync(options.ca.caCert, join(d, "certs", "ca.crt"));
  copyFileSync(options.server.cert, join(d, "certs", "server.crt"));
  copyFileSync(options.server.key, join(d, "certs", "server.key"));
  writeFileSync(
    join(d, "rabbitmq.conf"),
    [
      "# rune-scheduler TLS test node (test/support/rabbit-tls.ts): nothing on 5672",
      `listeners.tcp.local = 127.0.0.1:${options.amqpPort}`,
      `listeners.ssl.default = ${options.tlsPort}`,
      `ssl_options.cacertfile = ${join(d, "certs", "ca.crt")}`,
      `ssl_options.certfile = ${join(d, "certs", "server.crt")}`,
      `ssl_options.keyfile = ${join(d, "certs", "server.key")}`,
      "ssl_options.verify = verify_peer",
      "ssl_options.fail_if_no_peer_cert = true",
      "auth_mechanisms.1 = PLAIN",
      "auth_mechanisms.2 = AMQPLAIN",
      "auth_mechanisms.3 = EXTERNAL",
      "ssl_cert_login_from = common_name",
      "loopback_users = none",
      "",
    ].join("\n"),
  );
  writeFileSync(join(d, "rabbitmq-env.conf"), "");
  writeFileSync(join(d, "enabled_plugins"), "[rabbitmq_auth_mechanism_ssl].\n");
  const { uid, gid } = rabbitIds();
  const own = (path: string) => chownSync(path, uid, gid);
  for (const sub of ["", "mnesia", "log", "certs"]) own(join(d, sub));
  for (const file of [
    "certs/ca.crt",
    "certs/server.crt",
    "certs/server.key",
    "rabbitmq.conf",
    "rabbitmq-env.conf",
    "enabled_plugins",
  ]) {
    own(join(d, file));
  }
  chmodSync(join(d, "certs", "server.key"), 0o600);

  const server = Bun.spawn(asRabbit(["setsid", join(RMQ_BIN, "rabbitmq-server")]), {
    cwd: RMQ_HOME,
    env: env(options),
    stdout: Bun.file(join(d, "log", "startup.log")),
    stderr: "ignore",
    stdin: "ignore",
  });

  const ctl = async (...args: string[]): Promise<string> => {
    const result = await run(options, [join(RMQ_BIN, "rabbitmqctl"), "-n", options.name, ...args]);
    if (result.code !== 0) throw new Error(`rabbitmqctl ${args.join(" ")} failed: ${result.err || result.out}`);
    return result.out;
  };

  const stop = async () => {
    await run(options, [join(RMQ_BIN, "rabbitmqctl"), "-n", options.name, "-q", "stop"]).catch(() => {});
    killLeftover(join(d, "beam.pid"));
    server.kill("SIGKILL");
    rmSync(d, { recursive: true, force: true });
  };

  // await_startup fails at once while the node has not registered with epmd: asked again until
  // the node answers, for as long as it lives.
  const deadline = Date.now() + 90_000;
  for (;;) {
    const result = await run(options, [
      join(RMQ_BIN, "rabbitmqctl"),
      "-n",
      options.name,
      "-q",
      "await_startup",
      "--timeout",
      "60",
    ]);
    if (result.code === 0) break;
    if (server.exitCode !== null && server.exitCode !== 0) {
      const log = readFileSync(join(d, "log", "startup.log"), "utf8").slice(-2000);
      throw new Error(`RabbitMQ node ${options.name} exited while starting: ${log}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`RabbitMQ node ${options.name} did not start in 90 s: see ${d}/log`);
    }
    await Bun.sleep(200); // polling the node's start with a bound, not a wait for time to pass
  }

  return {
    name: options.name,
    amqpPort: options.amqpPort,
    tlsPort: options.tlsPort,
    ctl,
    async addUser(name, password) {
      await ctl("-q", "add_user", name, password ?? `unused-${Math.random().toString(36).slice(2)}`);
      if (password === undefined) await ctl("-q", "clear_password", name);
      await ctl("-q", "set_permissions", "-p", "/", name, ".*", ".*", ".*");
    },
    async connectionUsers() {
      const out = await ctl("-q", "list_connections", "user", "--no-table-headers");
      return out
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "");
    },
    stop,
  };
}
