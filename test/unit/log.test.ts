import { describe, expect, test } from "bun:test";
import { maskUrl, redact } from "../../src/config/redact.ts";
import { createLogger, type LogSink } from "../../src/observe/log.ts";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const sink: LogSink = { stdout: (line) => out.push(line), stderr: (line) => err.push(line) };
  return { out, err, sink };
}

describe("logger", () => {
  test("DEBUG/INFO go to stdout, WARNING and above to stderr, each with an ISO time and the level word", () => {
    const { out, err, sink } = capture();
    const log = createLogger({ level: "DEBUG", format: "text", sink });
    log.debug("d");
    log.info("Database connection pool established", { host: "h:1" });
    log.warn("w");
    log.error("e");
    log.critical("c");
    expect(out).toHaveLength(2);
    expect(out[1]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO Database connection pool established host=h:1\n$/,
    );
    expect(out[0]).toMatch(/Z DEBUG d\n$/);
    expect(err.map((line) => line.split(" ")[1])).toEqual(["WARNING", "ERROR", "CRITICAL"]);
  });

  test("the level filters, ERROR keeps CRITICAL and drops WARNING", () => {
    const { out, err, sink } = capture();
    const log = createLogger({ level: "ERROR", format: "text", sink });
    log.info("i");
    log.warn("w");
    log.error("e");
    log.critical("c");
    expect(out).toEqual([]);
    expect(err).toHaveLength(2);
  });

  test("repeated lines are not folded (consola's throttle is off)", () => {
    const { err, sink } = capture();
    const log = createLogger({ level: "INFO", format: "text", sink });
    for (let i = 0; i < 5; i++) log.error("same");
    expect(err).toHaveLength(5);
  });

  test("json format: one object a line with time, level, msg and fields", () => {
    const { out, sink } = capture();
    createLogger({ level: "INFO", format: "json", sink }).info("hello", { n: 1 });
    const record = JSON.parse(out[0]!);
    expect(record).toMatchObject({ level: "INFO", msg: "hello", n: 1 });
    expect(new Date(record.time).toISOString()).toBe(record.time);
  });

  test("errors carry their message and code, and the stack on its own lines", () => {
    const { err, sink } = capture();
    createLogger({ level: "INFO", format: "text", sink }).critical("boom", {
      error: Object.assign(new Error("bad"), { code: "E1" }),
    });
    expect(err[0]).toMatch(/CRITICAL boom error=bad error_code=E1\nError: bad\n\s+at /);
  });

  test("secrets and URL passwords never reach the output", () => {
    const { out, err, sink } = capture();
    const log = createLogger({ level: "DEBUG", format: "text", secrets: ["hunter2-pw", "p@ss/w"], sink });
    log.info("connecting to amqp://guest:other-secret@h:5672/vh with hunter2-pw");
    log.error("failed", { error: new Error("auth p%40ss%2Fw rejected") });
    const all = out.join("") + err.join("");
    expect(all).not.toMatch(/hunter2-pw|other-secret|p%40ss%2Fw|p@ss\/w/);
    expect(all).toContain("amqp://guest:***@h:5672/vh");
  });
});

describe("redaction", () => {
  test("maskUrl hides only the password", () => {
    expect(maskUrl("postgres://u:pw@h:5432/db and amqps://a:b@c")).toBe(
      "postgres://u:***@h:5432/db and amqps://a:***@c",
    );
    expect(maskUrl("amqp://h:5672/vh")).toBe("amqp://h:5672/vh");
  });
  test("maskUrl hides a password, or a user name, holding a literal @ whole: the host starts after the last @", () => {
    // A URL parser takes the last @ before the host as the end of the password (amqplib connects with it).
    expect(maskUrl("amqp://u:Pass@Word9@h:5672/vh (from the environment) x@y")).toBe(
      "amqp://u:***@h:5672/vh (from the environment) x@y",
    );
    expect(maskUrl("amqps://u:a@b@h1,amqps://v:c@d@h2/vh")).toBe("amqps://u:***@h1,amqps://v:***@h2/vh");
    expect(maskUrl("postgres://u:p@w@h?x=y@z")).toBe("postgres://u:***@h?x=y@z");
    expect(maskUrl("postgres://u@h/db?sslpassword=Key,Tail&sslmode=verify-full")).toBe(
      "postgres://u@h/db?sslpassword=***&sslmode=verify-full",
    );
    // Azure's user@server user names, written without %40.
    expect(maskUrl("postgres://rune@db1:Secret9@db1.example:5432/x")).toBe(
      "postgres://rune@db1:***@db1.example:5432/x",
    );
  });
  test("redact replaces secrets but leaves very short ones to the URL rule", () => {
    expect(redact("x abc y", ["abc"])).toBe("x *** y");
    expect(redact("a b", ["a"])).toBe("a b");
  });
});
