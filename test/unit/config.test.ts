import { describe, expect, test } from "bun:test";
import { ConfigError, type ConfigSources, loadConfig } from "../../src/config/config.ts";

const KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const load = (env: Record<string, string>, extra: Partial<ConfigSources> = {}) => loadConfig({ env, ...extra });

function errorOf(env: Record<string, string>, extra: Partial<ConfigSources> = {}): ConfigError {
  try {
    load(env, extra);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("defaults", () => {
  test("match docs/configuration.md §2–§7", () => {
    const config = load({});
    expect(config.db).toMatchObject({
      host: "db",
      port: 5432,
      database: "rune",
      user: "postgres",
      password: "postgres",
    });
    expect(config.mq).toMatchObject({
      url: "amqp://guest:guest@rabbitmq:5672",
      vhost: "/",
      queue: "workflow_queue",
      queueType: "classic",
    });
    expect(config).toMatchObject({
      pollIntervalMs: 30_000,
      lookAheadMs: 60_000,
      batchSize: 500,
      maxMessageBytes: 16_777_216,
      misfireGraceMs: 0,
      pauseAfterFailures: 0,
      maxRetries: 5,
      healthcheckIntervalMs: 300_000,
      httpHost: "127.0.0.1",
      httpPort: 8080,
      shutdownTimeoutMs: 10_000,
      logLevel: "INFO",
      logFormat: "text",
      encryptionKey: null,
      notifyChannel: null,
    });
    expect(Object.isFrozen(config)).toBe(true);
    // Public defaults are not secrets: scrubbing "postgres" would mangle every log line.
    expect(config.secrets).toEqual([]);
  });
});

describe("sources", () => {
  test("a flag beats the environment, which beats .env, which beats the default", () => {
    const dotenv = "SCHEDULER_POLL_INTERVAL=7\nSCHEDULER_BATCH_SIZE=9\nexport RABBITMQ_QUEUE='from-dotenv' # comment\n";
    const config = load({ SCHEDULER_POLL_INTERVAL: "5" }, { dotenv, flags: { SCHEDULER_POLL_INTERVAL: "0.5" } });
    expect(config.pollIntervalMs).toBe(500);
    expect(config.batchSize).toBe(9);
    expect(config.mq.queue).toBe("from-dotenv");
    expect(load({ SCHEDULER_POLL_INTERVAL: "5" }, { dotenv }).pollIntervalMs).toBe(5_000);
  });

  test("DATABASE_URL overrides the five parts, percent-decoded", () => {
    const config = load({ POSTGRES_HOST: "ignored", DATABASE_URL: "postgresql://u%40x:p%2Fw@pg.example:6543/my%20db" });
    expect(config.db).toMatchObject({
      host: "pg.example",
      port: 6543,
      database: "my db",
      user: "u@x",
      password: "p/w",
    });
    expect(config.db.where).toBe("u@x@pg.example:6543/my db");
    expect(config.secrets).toContain("postgresql://u%40x:p%2Fw@pg.example:6543/my%20db");
  });

  test("a password holding a literal @ is whole and the host is right: the authority splits at its last @", () => {
    const config = load({ DATABASE_URL: "postgres://u:Pass@Word9@127.0.0.1/db" });
    expect(config.db).toMatchObject({
      host: "127.0.0.1",
      port: 5432,
      user: "u",
      password: "Pass@Word9",
      database: "db",
    });
    expect(config.db.where).toBe("u@127.0.0.1:5432/db");
    // The decoded password is a secret of its own: a line may quote it outside the URL.
    expect(config.secrets).toContain("Pass@Word9");
    const notify = load({ SCHEDULER_NOTIFY_DATABASE_URL: "postgres://n:Lis@ten7@10.0.0.9:5433/db" });
    expect(notify.notifyDb).toMatchObject({ host: "10.0.0.9", port: 5433, user: "n", password: "Lis@ten7" });
    expect(notify.secrets).toContain("Lis@ten7");
    // The public defaults are not scrubbed: "guest" is also the user name in every line.
    const plain = load({ DATABASE_URL: "postgres://postgres:postgres@h/db", RABBITMQ_URL: "amqp://guest:guest@h/vh" });
    expect(plain.secrets).not.toContain("postgres");
    expect(plain.secrets).not.toContain("guest");
  });

  test("a password holding an unencoded / ? or # is refused, and no part of it is shown", () => {
    for (const [url, secret] of [
      ["postgres://u:Zq/Xv@127.0.0.1/db", "Zq/Xv"],
      // Read as a URL parser reads it, host u, port 98 and database "76@127.0.0.1/db".
      ["postgres://u:98/76@127.0.0.1/db", "98/76"],
      ["postgres://u:98?76@127.0.0.1/db", "98?76"],
      ["postgres://u:Zq#Xv@127.0.0.1/db", "Zq#Xv"],
      ["postgres://u:Kp@Mn/Wr@Tz@127.0.0.1/db", "Kp@Mn/Wr@Tz"],
    ] as const) {
      const message = errorOf({ DATABASE_URL: url }).message;
      expect(message).toStartWith('DATABASE_URL="postgres://u:***@127.0.0.1/db" is invalid: expected');
      expect(message).toContain("%2F");
      for (const part of secret.split(/[/?#@]/)) expect(message).not.toContain(part);
    }
    const amqp = errorOf({ RABBITMQ_URL: "amqp://u:98/76@127.0.0.1/vh" }).message;
    expect(amqp).toStartWith('RABBITMQ_URL="amqp://u:***@127.0.0.1/vh" is invalid: expected');
    expect(amqp).toContain("%2F");
    expect(amqp).not.toMatch(/98|76/);
  });

  test("sslmode in DATABASE_URL selects TLS; the default is libpq's prefer", () => {
    expect(load({}).db.tls.mode).toBe("prefer");
    expect(load({ DATABASE_URL: "postgres://u:p@h/db?sslmode=verify-full" }).db.tls.mode).toBe("verify-full");
    expect(errorOf({ DATABASE_URL: "postgres://u:hunter22@h/db?sslmode=maybe" }).message).toBe(
      'DATABASE_URL="postgres://u:***@h/db?sslmode=maybe" is invalid: expected sslmode in DATABASE_URL to be one of disable, allow, prefer, require, verify-ca, verify-full',
    );
  });

  test("RABBITMQ_URL overrides the parts and carries the vhost", () => {
    const config = load({ RABBITMQ_HOST: "ignored", RABBITMQ_URL: "amqps://u:secretpw@mq.example:5671/prod%2Fa" });
    expect(config.mq.vhost).toBe("prod/a");
    expect(config.mq.where).toBe("amqps://u:***@mq.example:5671/prod%2Fa");
  });

  test("parts build an AMQP URL with encoded credentials", () => {
    const config = load({
      RABBITMQ_USER: "a b",
      RABBITMQ_PASSWORD: "p@ss:w/rd",
      RABBITMQ_HOST: "h",
      RABBITMQ_PORT: "1234",
    });
    expect(config.mq.url).toBe("amqp://a%20b:p%40ss%3Aw%2Frd@h:1234");
    expect(config.secrets).toContain("p@ss:w/rd");
  });

  test("*_FILE secrets are read, one trailing newline dropped", () => {
    const files: Record<string, string> = { "/run/secrets/pg": "s3cret-pg\n", "/run/secrets/key": `${KEY}\n` };
    const config = load(
      { POSTGRES_PASSWORD_FILE: "/run/secrets/pg", ENCRYPTION_KEY_FILE: "/run/secrets/key" },
      { readFile: (path) => files[path] ?? "" },
    );
    expect(config.db.password).toBe("s3cret-pg");
    expect(config.encryptionKey).toBe(KEY);
    expect(config.secrets).toEqual(expect.arrayContaining(["s3cret-pg", KEY]));
  });

  test("LOG_LEVEL accepts any case and WARN", () => {
    expect(load({ LOG_LEVEL: "warn" }).logLevel).toBe("WARNING");
    expect(load({ LOG_LEVEL: "Debug" }).logLevel).toBe("DEBUG");
    expect(load({ LOG_LEVEL: "critical", LOG_FORMAT: "JSON" })).toMatchObject({
      logLevel: "CRITICAL",
      logFormat: "json",
    });
  });
});

describe("bad values stop with one line naming the variable, the value and what was expected", () => {
  const cases: [Record<string, string>, string][] = [
    [
      { SCHEDULER_POLL_INTERVAL: "abc" },
      'SCHEDULER_POLL_INTERVAL="abc" is invalid: expected a number of seconds from 0.001 to 2147483.647',
    ],
    [
      { SCHEDULER_POLL_INTERVAL: "0" },
      'SCHEDULER_POLL_INTERVAL="0" is invalid: expected a number of seconds from 0.001 to 2147483.647',
    ],
    [
      { SCHEDULER_POLL_INTERVAL: "-3" },
      'SCHEDULER_POLL_INTERVAL="-3" is invalid: expected a number of seconds from 0.001 to 2147483.647',
    ],
    [{ SCHEDULER_BATCH_SIZE: "1.5" }, 'SCHEDULER_BATCH_SIZE="1.5" is invalid: expected a whole number from 1 to 10000'],
    [{ SCHEDULER_BATCH_SIZE: "" }, 'SCHEDULER_BATCH_SIZE="" is invalid: expected a whole number from 1 to 10000'],
    [
      { SCHEDULER_MAX_RETRIES: "-1" },
      'SCHEDULER_MAX_RETRIES="-1" is invalid: expected a whole number from 0 to 2147483647',
    ],
    [
      { SCHEDULER_MISFIRE_GRACE: "soon" },
      'SCHEDULER_MISFIRE_GRACE="soon" is invalid: expected 0 or a number of seconds from 0.001 to 2147483.647',
    ],
    [
      { SCHEDULER_HTTP_PORT: "70000" },
      'SCHEDULER_HTTP_PORT="70000" is invalid: expected a whole number from 0 to 65535',
    ],
    [{ POSTGRES_PORT: "x" }, 'POSTGRES_PORT="x" is invalid: expected a TCP port from 1 to 65535'],
    [
      { LOG_LEVEL: "verbose" },
      'LOG_LEVEL="verbose" is invalid: expected one of DEBUG, INFO, WARNING, WARN, ERROR, CRITICAL',
    ],
    [{ LOG_FORMAT: "xml" }, 'LOG_FORMAT="xml" is invalid: expected text or json'],
    [{ RABBITMQ_QUEUE_TYPE: "stream" }, 'RABBITMQ_QUEUE_TYPE="stream" is invalid: expected classic or quorum'],
    [
      { SCHEDULER_NOTIFY_CHANNEL: "bad-name" },
      'SCHEDULER_NOTIFY_CHANNEL="bad-name" is invalid: expected a PostgreSQL identifier (letters, digits, _ and $; at most 63)',
    ],
    [
      { DATABASE_URL: "mysql://u:hunter22@h/db" },
      'DATABASE_URL="mysql://u:***@h/db" is invalid: expected postgres://user:password@host:port/database',
    ],
    [
      { RABBITMQ_URL: "http://u:hunter22@h" },
      'RABBITMQ_URL="http://u:***@h" is invalid: expected amqp://user:password@host:port/vhost (or amqps://), comma-separated for several nodes',
    ],
    [
      { ENCRYPTION_KEY: "not-a-key-hunter22" },
      "ENCRYPTION_KEY=(hidden) is invalid: expected a Fernet key: 32 bytes in URL-safe base64 (44 characters)",
    ],
  ];
  for (const [env, message] of cases) {
    test(Object.keys(env)[0]!, () => {
      const error = errorOf(env);
      expect(error.message).toBe(message);
      expect(error.code).toBe("CONFIG_INVALID");
      expect(error.message).not.toContain("hunter22");
      expect(error.message).not.toContain("\n");
    });
  }

  test("an unreadable *_FILE names the file variable and the reason", () => {
    const error = errorOf(
      { RABBITMQ_PASSWORD_FILE: "/nope" },
      {
        readFile: () => {
          throw Object.assign(new Error("no such file"), { code: "ENOENT" });
        },
      },
    );
    expect(error.message).toBe('RABBITMQ_PASSWORD_FILE="/nope" is invalid: expected a readable file (ENOENT)');
  });
});

describe("bounds: every duration and count within what the code handles", () => {
  const SECONDS = "a number of seconds from 0.001 to 2147483.647";
  const OR_ZERO = `0 or ${SECONDS}`;
  const durations = [
    ["SCHEDULER_POLL_INTERVAL", "pollIntervalMs", SECONDS],
    ["SCHEDULER_HEALTHCHECK_INTERVAL", "healthcheckIntervalMs", SECONDS],
    ["SCHEDULER_CONNECT_TIMEOUT", "connectTimeoutMs", SECONDS],
    ["SCHEDULER_SHUTDOWN_TIMEOUT", "shutdownTimeoutMs", SECONDS],
    ["SCHEDULER_MISFIRE_GRACE", "misfireGraceMs", OR_ZERO],
    ["SCHEDULER_MAX_OUTAGE", "maxOutageMs", OR_ZERO],
  ] as const;
  for (const [name, field, expected] of durations) {
    test(`${name}: 1 ms to 2^31-1 ms (setTimeout's limit)`, () => {
      expect(load({ [name]: "0.001" })[field]).toBe(1);
      expect(load({ [name]: "2147483.647" })[field]).toBe(2 ** 31 - 1);
      // Past the limit a timer fires at once (a hot loop); under 1 ms a value rounds to 0.
      for (const bad of ["2147484", "2147483.648", "0.0004", "0.0009", "-1", "Infinity", "NaN", ""]) {
        expect(errorOf({ [name]: bad }).message).toBe(
          `${name}=${JSON.stringify(bad)} is invalid: expected ${expected}`,
        );
      }
      if (expected === OR_ZERO) expect(load({ [name]: "0" })[field]).toBe(0);
      else expect(errorOf({ [name]: "0" }).message).toBe(`${name}="0" is invalid: expected ${SECONDS}`);
    });
  }

  test("SCHEDULER_LOOK_AHEAD: 0, or 1 ms to one day", () => {
    expect(load({ SCHEDULER_LOOK_AHEAD: "0" }).lookAheadMs).toBe(0);
    expect(load({ SCHEDULER_LOOK_AHEAD: "0.001" }).lookAheadMs).toBe(1);
    expect(load({ SCHEDULER_LOOK_AHEAD: "86400" }).lookAheadMs).toBe(86_400_000);
    for (const bad of ["86400.001", "1e300", "0.0004", "-1"]) {
      expect(errorOf({ SCHEDULER_LOOK_AHEAD: bad }).message).toBe(
        `SCHEDULER_LOOK_AHEAD=${JSON.stringify(bad)} is invalid: expected 0 or a number of seconds from 0.001 to 86400`,
      );
    }
  });

  const counts = [
    ["SCHEDULER_BATCH_SIZE", "batchSize", 1, 10_000],
    ["SCHEDULER_MAX_MESSAGE_BYTES", "maxMessageBytes", 1, 512 * 1024 * 1024],
    ["SCHEDULER_MAX_RETRIES", "maxRetries", 0, 2 ** 31 - 1],
    ["SCHEDULER_PAUSE_AFTER_FAILURES", "pauseAfterFailures", 0, 2 ** 31 - 1],
    ["SCHEDULER_BATCH_BYTES", "batchBytes", 1, Number.MAX_SAFE_INTEGER],
  ] as const;
  for (const [name, field, min, max] of counts) {
    test(`${name}: a whole number from ${min} to ${max}`, () => {
      expect(load({ [name]: String(min) })[field]).toBe(min);
      expect(load({ [name]: String(max) })[field]).toBe(max);
      for (const bad of [
        String(min - 1),
        max === Number.MAX_SAFE_INTEGER ? "9007199254740993" : String(max + 1),
        "1.5",
        "x",
      ]) {
        expect(errorOf({ [name]: bad }).message).toBe(
          `${name}=${JSON.stringify(bad)} is invalid: expected a whole number from ${min} to ${max}`,
        );
      }
    });
  }

  test("the new settings' defaults: never give up, 16 MiB in flight", () => {
    expect(load({})).toMatchObject({ maxOutageMs: 0, batchBytes: 16_777_216 });
    expect(load({ SCHEDULER_MAX_OUTAGE: "90", SCHEDULER_BATCH_BYTES: "1" })).toMatchObject({
      maxOutageMs: 90_000,
      batchBytes: 1,
    });
  });
});

describe("several RabbitMQ nodes", () => {
  test("RABBITMQ_HOST=a,b,c: one URL per node, same port and credentials", () => {
    const { mq } = load({ RABBITMQ_HOST: "a, b,c", RABBITMQ_PORT: "5673", RABBITMQ_PASSWORD: "pw-hunter22" });
    expect(mq.urls).toEqual([
      "amqp://guest:pw-hunter22@a:5673",
      "amqp://guest:pw-hunter22@b:5673",
      "amqp://guest:pw-hunter22@c:5673",
    ]);
    expect(mq.wheres).toEqual(["amqp://guest:***@a:5673", "amqp://guest:***@b:5673", "amqp://guest:***@c:5673"]);
    expect(mq.url).toBe(mq.urls[0]!);
    expect(mq.where).toBe(mq.wheres.join(","));
    expect(mq.vhost).toBe("/");
  });

  test("a node may name its own port; IPv6 addresses in brackets or bare", () => {
    const { mq } = load({ RABBITMQ_HOST: "a:5672,b:5673,[::1]:5674,::1,[fe80::2]" });
    expect(mq.wheres).toEqual([
      "amqp://guest:***@a:5672",
      "amqp://guest:***@b:5673",
      "amqp://guest:***@[::1]:5674",
      "amqp://guest:***@[::1]:5672",
      "amqp://guest:***@[fe80::2]:5672",
    ]);
  });

  test("one host keeps the single-node shape", () => {
    const { mq } = load({ RABBITMQ_HOST: "h" });
    expect(mq).toMatchObject({
      url: "amqp://guest:guest@h:5672",
      where: "amqp://guest:***@h:5672",
      urls: ["amqp://guest:guest@h:5672"],
    });
  });

  test("bad host lists name RABBITMQ_HOST and the accepted form", () => {
    const expected = "expected host names or addresses, comma-separated, each optionally with :port (1 to 65535)";
    for (const bad of ["a,,b", "a,", "a:0", "a:70000", "a:x", "[::1", "[::1]:x", ":5672"]) {
      expect(errorOf({ RABBITMQ_HOST: bad }).message).toBe(
        `RABBITMQ_HOST=${JSON.stringify(bad)} is invalid: ${expected}`,
      );
    }
  });

  test("comma-separated RABBITMQ_URLs, each redacted; a comma inside a password is not a separator", () => {
    const config = load({ RABBITMQ_URL: "amqp://u:p,w@a:5672/vh, amqps://u:pw2@b:5671/vh" });
    expect(config.mq.urls).toEqual(["amqp://u:p,w@a:5672/vh", "amqps://u:pw2@b:5671/vh"]);
    expect(config.mq.wheres).toEqual(["amqp://u:***@a:5672/vh", "amqps://u:***@b:5671/vh"]);
    expect(config.mq.vhost).toBe("vh");
    // Each URL is scrubbed on its own, since an error may quote one node's URL.
    expect(config.secrets).toEqual(expect.arrayContaining(["amqp://u:p,w@a:5672/vh", "amqps://u:pw2@b:5671/vh"]));
  });

  test("the URLs must share one vhost, and each must be an AMQP URL", () => {
    expect(errorOf({ RABBITMQ_URL: "amqp://u:hunter22@a/one,amqp://u:hunter22@b/two" }).message).toBe(
      'RABBITMQ_URL="amqp://u:***@a/one,amqp://u:***@b/two" is invalid: expected the same vhost in every URL (found "one" and "two")',
    );
    // No path and "/" (encoded) are the same vhost.
    expect(load({ RABBITMQ_URL: "amqp://u:hunter22@a,amqp://u:hunter22@b/%2F" }).mq.vhost).toBe("/");
    for (const bad of ["amqp://u:hunter22@a,http://b", "amqp://u:hunter22@a,b/vh"]) {
      expect(errorOf({ RABBITMQ_URL: bad }).message).toContain(
        "is invalid: expected amqp://user:password@host:port/vhost",
      );
    }
  });
});

describe("several PostgreSQL hosts (failover)", () => {
  test("POSTGRES_HOST=a,b shares POSTGRES_PORT; host:port entries keep their own; host/port are the first", () => {
    const db = load({ POSTGRES_HOST: "a, b:5433,[::1]:5434", POSTGRES_PORT: "6000" }).db;
    expect(db.hosts).toEqual([
      { host: "a", port: 6000 },
      { host: "b", port: 5433 },
      { host: "::1", port: 5434 },
    ]);
    expect(db).toMatchObject({ host: "a", port: 6000, targetSessionAttrs: null });
    expect(db.where).toBe("postgres@a:6000,b:5433,[::1]:5434/rune");
  });

  test("one host is a list of one", () => {
    expect(load({ POSTGRES_HOST: "pg" }).db.hosts).toEqual([{ host: "pg", port: 5432 }]);
    expect(load({ POSTGRES_HOST: "::1" }).db.hosts).toEqual([{ host: "::1", port: 5432 }]);
  });

  test("a multi-host DATABASE_URL, with target_session_attrs; the password never in where", () => {
    const db = load({
      DATABASE_URL: "postgres://u:s3cr,et@h1:5432,h2:5433,h3/db?target_session_attrs=read-write&sslmode=require",
    }).db;
    expect(db.hosts).toEqual([
      { host: "h1", port: 5432 },
      { host: "h2", port: 5433 },
      { host: "h3", port: 5432 },
    ]);
    expect(db).toMatchObject({
      user: "u",
      password: "s3cr,et",
      database: "db",
      tls: { mode: "require" },
      targetSessionAttrs: "read-write",
    });
    expect(db.where).toBe("u@h1:5432,h2:5433,h3:5432/db");
    expect(db.where).not.toContain("s3cr");
  });

  test("every target_session_attrs postgres.js knows; any means no check", () => {
    for (const attrs of ["read-write", "read-only", "primary", "standby", "prefer-standby"]) {
      expect(load({ DATABASE_URL: `postgres://u@h/db?target_session_attrs=${attrs}` }).db.targetSessionAttrs).toBe(
        attrs as never,
      );
    }
    expect(load({ DATABASE_URL: "postgres://u@h/db?target_session_attrs=any" }).db.targetSessionAttrs).toBeNull();
    expect(errorOf({ DATABASE_URL: "postgres://u:hunter22@h/db?target_session_attrs=writable" }).message).toBe(
      'DATABASE_URL="postgres://u:***@h/db?target_session_attrs=writable" is invalid: expected target_session_attrs to be one of any, read-write, read-only, primary, standby, prefer-standby',
    );
  });

  test("a malformed host list names the variable", () => {
    for (const bad of ["a,,b", "a:0", "a:99999", "a:x", "[::1", ""]) {
      expect(errorOf({ POSTGRES_HOST: bad }).message).toBe(
        `POSTGRES_HOST=${JSON.stringify(bad)} is invalid: expected a host name or address, or several separated by commas (host or host:port)`,
      );
    }
    expect(errorOf({ DATABASE_URL: "postgres://u:hunter22@h1:5432,:5433/db" }).message).toBe(
      'DATABASE_URL="postgres://u:***@h1:5432,:5433/db" is invalid: expected postgres://user:password@host:port/database (several hosts as host1:port1,host2:port2)',
    );
    expect(errorOf({ DATABASE_URL: "postgres:///db" }).message).toContain(
      "is invalid: expected postgres://user:password@host:port/database",
    );
  });
});

describe("heartbeat=0 in RABBITMQ_URL", () => {
  test("is a bad configuration (exit 2 before connecting), naming the variable with the password masked", () => {
    expect(() => loadConfig({ env: { RABBITMQ_URL: "amqp://guest:s3cret@mq:5672/?heartbeat=0" } })).toThrow(
      'RABBITMQ_URL="amqp://guest:***@mq:5672/?heartbeat=0" is invalid: expected no heartbeat=0 in the URL',
    );
    expect(loadConfig({ env: { RABBITMQ_URL: "amqp://guest:s3cret@mq:5672/?heartbeat=5" } }).mq.urls).toHaveLength(1);
  });
});

describe("where each value came from", () => {
  test("a flag, the environment, ./.env, a *_FILE and the default are each recorded, with where ./.env was looked for", () => {
    const config = load(
      { POSTGRES_PORT: "5433", POSTGRES_PASSWORD_FILE: "/run/secrets/pg" },
      {
        flags: { SCHEDULER_POLL_INTERVAL: "5" },
        dotenv: "POSTGRES_DB=from_dotenv\n",
        dotenvLocation: { path: "/srv/rune/.env", found: true },
        readFile: () => "pw\n",
      },
    );
    expect(config.origins).toMatchObject({
      SCHEDULER_POLL_INTERVAL: "flag",
      POSTGRES_PORT: "environment",
      POSTGRES_DB: "dotenv",
      POSTGRES_PASSWORD: "file",
      POSTGRES_HOST: "default",
    });
    expect(config.db.origin).toEqual({
      address:
        "POSTGRES_HOST=db (default; not set in ./.env at /srv/rune/.env); POSTGRES_PORT=5433 (from the environment)",
      database: "POSTGRES_DB=from_dotenv (from ./.env at /srv/rune/.env)",
    });
    expect(load({}, { dotenvLocation: { path: "/tmp/.env", found: false } }).mq.origin).toEqual({
      address: "RABBITMQ_HOST=rabbitmq, RABBITMQ_PORT=5672 (default; no ./.env in /tmp)",
    });
  });

  test("a URL is named, masked, instead of the parts it overrides", () => {
    const config = load({ DATABASE_URL: "postgres://u:s3cret@h:5432/d" });
    expect(config.db.origin?.address).toBe("DATABASE_URL=postgres://u:***@h:5432/d (from the environment)");
  });
});

describe("console", () => {
  const token = "0123456789abcdef-console";
  test("off unless a token or read-only mode is given", () => {
    expect(load({}).console).toBeNull();
    expect(load({ SCHEDULER_CONSOLE: "off", SCHEDULER_CONSOLE_TOKEN: token }).console).toBeNull();
    expect(load({ SCHEDULER_CONSOLE_TOKEN: token }).console).toEqual({ mode: "token", token, hosts: [] });
    expect(load({ SCHEDULER_CONSOLE: "read-only" }).console).toEqual({ mode: "read-only", token: null, hosts: [] });
  });
  test("the token is a secret: from a file, scrubbed, never shown", () => {
    const config = load({ SCHEDULER_CONSOLE_TOKEN_FILE: "/run/secrets/console" }, { readFile: () => `${token}\n` });
    expect(config.console?.token).toBe(token);
    expect(config.secrets).toContain(token);
    expect(errorOf({ SCHEDULER_CONSOLE_TOKEN: "short" }).message).not.toContain("short");
  });
  test("bad values name what is expected", () => {
    expect(errorOf({ SCHEDULER_CONSOLE: "yes" }).variable).toBe("SCHEDULER_CONSOLE");
    expect(errorOf({ SCHEDULER_CONSOLE_TOKEN: "short" }).variable).toBe("SCHEDULER_CONSOLE_TOKEN");
    expect(errorOf({ SCHEDULER_CONSOLE: "read-only", SCHEDULER_CONSOLE_TOKEN: token }).variable).toBe(
      "SCHEDULER_CONSOLE",
    );
    expect(errorOf({ SCHEDULER_CONSOLE_TOKEN: token, SCHEDULER_HTTP_PORT: "0" }).variable).toBe("SCHEDULER_HTTP_PORT");
    expect(errorOf({ SCHEDULER_CONSOLE_HOSTS: "a b" }).variable).toBe("SCHEDULER_CONSOLE_HOSTS");
    expect(
      load({ SCHEDULER_CONSOLE_TOKEN: token, SCHEDULER_CONSOLE_HOSTS: "Sched.example, 10.0.0.5:8080" }).console?.hosts,
    ).toEqual(["sched.example", "10.0.0.5:8080"]);
  });
});
