/**
 * scripts/deploy/compose.yaml, parsed as Compose would read it (CI runs the image with podman, not Compose): the
 * three services, secrets as files readable through /run/secrets, the scheduler's environment
 * a configuration the program accepts, the image's healthcheck, a bounded restart policy and a
 * stop grace period above the shutdown timeout. No password is written in the file.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { loadConfig } from "../../src/config/config.ts";
import { SETTINGS } from "../../src/config/settings.ts";

const REPO = resolve(import.meta.dir, "../..");
const FILE = join(REPO, "scripts/deploy/compose.yaml");
const HERE = dirname(FILE);

interface SecretRef {
  source: string;
  target?: string;
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  secrets?: (string | SecretRef)[];
  volumes?: string[];
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  stop_grace_period?: string;
  mem_limit?: string;
  memswap_limit?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
}
interface Compose {
  services: Record<string, Service>;
  secrets: Record<string, { file?: string; environment?: string }>;
}

const compose = parse(readFileSync(FILE, "utf8")) as Compose;
const scheduler = compose.services.scheduler!;

/** Where Compose mounts each secret of a service: /run/secrets/<name> unless given a target. */
function mounts(service: Service): Map<string, string> {
  return new Map(
    (service.secrets ?? []).map((ref) => {
      const { source, target } = typeof ref === "string" ? { source: ref, target: undefined } : ref;
      return [
        source,
        target === undefined ? `/run/secrets/${source}` : target.startsWith("/") ? target : `/run/secrets/${target}`,
      ];
    }),
  );
}

/** A Go duration as Compose takes it ("15s", "1m30s") in seconds. */
function seconds(duration: string): number {
  let total = 0;
  const rest = duration.replace(/(\d+(?:\.\d+)?)(ms|s|m|h)/g, (_, n: string, unit: string) => {
    total += Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit as "ms" | "s" | "m" | "h"];
    return "";
  });
  if (rest !== "") throw new Error(`not a duration: ${duration}`);
  return total;
}

describe("scripts/deploy/compose.yaml", () => {
  test("runs PostgreSQL, RabbitMQ and the scheduler built from Dockerfile.scratch", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["db", "rabbitmq", "scheduler"]);
    expect(scheduler.build).toEqual({ context: "../..", dockerfile: "Dockerfile.scratch" });
    expect(existsSync(join(resolve(HERE, scheduler.build!.context), scheduler.build!.dockerfile))).toBe(true);
    expect(scheduler.depends_on).toEqual({
      db: { condition: "service_healthy" },
      rabbitmq: { condition: "service_healthy" },
    });
    for (const name of ["db", "rabbitmq"]) expect(compose.services[name]!.healthcheck?.test[0]).toBe("CMD");
    // The reference schema is mounted from the repository, where it is.
    const schema = compose.services.db!.volumes!.find((volume) => volume.includes("docker-entrypoint-initdb.d"))!;
    expect(existsSync(resolve(HERE, schema.split(":")[0]!))).toBe(true);
  });

  test("gives every password as a file secret, mounted where a *_FILE variable points", () => {
    expect(
      Object.values(compose.secrets).every(
        (secret) => typeof secret.file === "string" && secret.environment === undefined,
      ),
    ).toBe(true);
    const env = scheduler.environment!;
    const files = Object.entries(env).filter(([key]) => key.endsWith("_FILE"));
    expect(Object.fromEntries(files)).toEqual({
      POSTGRES_PASSWORD_FILE: "/run/secrets/pg-password",
      RABBITMQ_PASSWORD_FILE: "/run/secrets/mq-password",
    });
    const mounted = new Set(mounts(scheduler).values());
    for (const [, path] of files) expect(mounted).toContain(path);
    // PostgreSQL's image reads the same secret for the user it creates.
    expect(compose.services.db!.environment!.POSTGRES_PASSWORD_FILE).toBe(
      mounts(compose.services.db!).get("pg-password")!,
    );
    // RabbitMQ 3.9+ has no password variable: its user comes from a conf.d file.
    expect(mounts(compose.services.rabbitmq!).get("rabbitmq-conf")).toMatch(/^\/etc\/rabbitmq\/conf\.d\/[^/]+\.conf$/);
    // The secret files live in a directory git ignores, so nobody commits them.
    expect(readFileSync(join(HERE, ".gitignore"), "utf8").split("\n")).toContain("secrets/");
    for (const secret of Object.values(compose.secrets)) expect(secret.file!.startsWith("./secrets/")).toBe(true);
  });

  test("writes no password, URL with credentials or key in any environment", () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        const where = `${name}.${key}`;
        expect({ where, secret: /PASS(WORD)?$|_URL$|KEY$|SECRET/.test(key) }).toEqual({ where, secret: false });
        expect({ where, value: String(value) }).not.toEqual({
          where,
          value: expect.stringMatching(/:\/\/[^/@]*:[^/@]*@/),
        });
      }
    }
  });

  test("sets only variables the scheduler reads, and a configuration it accepts", () => {
    const env = scheduler.environment!;
    const known = new Set(SETTINGS.flatMap((setting) => [setting.env, `${setting.env}_FILE`]));
    expect(Object.keys(env).filter((key) => !known.has(key))).toEqual([]);
    const read: string[] = [];
    const config = loadConfig({ env, readFile: (path) => (read.push(path), `secret-from-${path}\n`) });
    expect(read.sort()).toEqual(["/run/secrets/mq-password", "/run/secrets/pg-password"]);
    expect(config.shutdownTimeoutMs).toBe(10_000);
  });

  test("checks health with the binary itself, as the image does", () => {
    expect(scheduler.healthcheck!.test).toEqual(["CMD", "/rune-scheduler", "healthcheck"]);
    const dockerfile = readFileSync(join(REPO, "Dockerfile.scratch"), "utf8");
    expect(dockerfile).toContain('CMD ["/rune-scheduler", "healthcheck"]');
  });

  test("restarts a failure a bounded number of times, so a bad configuration (exit 2) stays down", () => {
    // Docker cannot exempt an exit code; `always` and `unless-stopped` would loop on exit 2.
    expect(scheduler.restart).toMatch(/^on-failure:[1-9]\d?$/);
  });

  test("stops with more grace than the scheduler's shutdown timeout, read-only and without capabilities", () => {
    const shutdown = loadConfig({ env: scheduler.environment!, readFile: () => "x" }).shutdownTimeoutMs / 1000;
    expect(seconds(scheduler.stop_grace_period!)).toBeGreaterThan(shutdown);
    expect({
      read_only: scheduler.read_only,
      cap_drop: scheduler.cap_drop,
      security_opt: scheduler.security_opt,
    }).toEqual({
      read_only: true,
      cap_drop: ["ALL"],
      security_opt: ["no-new-privileges:true"],
    });
  });

  test("limits memory, swap included, above the image's measured cold floor with its HEALTHCHECK", () => {
    // docs/install.md, "Memory limit": 72 MB from a cold page cache, the health check's second
    // process included (scripts/bench/image-memory.ts).
    const megabytes = (value: string) => Number(value.replace(/m$/i, ""));
    expect(scheduler.memswap_limit).toBe(scheduler.mem_limit);
    expect(megabytes(scheduler.mem_limit!)).toBeGreaterThanOrEqual(72);
  });
});
