import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { bearerToken, hostAllowed, sameOrigin, splitHost, tokenLabel, tokenMatches } from "../../src/console/auth.ts";

describe("tokenLabel", () => {
  test("tells tokens apart, the same for every replica, and is no bare hash of the token (a wordlist or a table would name a weak one)", () => {
    const token = "history-console-token-0123456789";
    const label = tokenLabel(token);
    expect(label).toMatch(/^token scrypt:[0-9a-f]{8}$/);
    expect(tokenLabel(token)).toBe(label);
    expect(tokenLabel(`${token}x`)).not.toBe(label);
    const hex = label.slice(-8);
    for (const hash of ["sha256", "sha1", "md5", "sha512"])
      expect(createHash(hash).update(token).digest("hex")).not.toContain(hex);
    expect(label).not.toContain(token.slice(0, 4));
    expect(tokenLabel(null)).toBe("no token");
  });
});

describe("tokenMatches", () => {
  test("only the exact token matches, whatever the lengths", () => {
    const token = "0123456789abcdef-token";
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches(`${token}x`, token)).toBe(false);
    expect(tokenMatches(token.slice(0, -1), token)).toBe(false);
    expect(tokenMatches("", token)).toBe(false);
    expect(tokenMatches(token.toUpperCase(), token)).toBe(false);
    expect(tokenMatches("é".repeat(22), token)).toBe(false);
  });
});

describe("bearerToken", () => {
  test("reads the token of a Bearer header and nothing else", () => {
    expect(bearerToken("Bearer abc.def")).toBe("abc.def");
    expect(bearerToken("bearer  abc")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeNull();
    expect(bearerToken("Bearer")).toBeNull();
    expect(bearerToken("Bearer a b")).toBeNull();
    expect(bearerToken(null)).toBeNull();
  });
});

describe("hostAllowed", () => {
  const loopback = { host: "127.0.0.1", port: 8080 };
  test("the bound address and port, and loopback names when bound to loopback", () => {
    expect(hostAllowed("127.0.0.1:8080", loopback, [])).toBe(true);
    expect(hostAllowed("localhost:8080", loopback, [])).toBe(true);
    expect(hostAllowed("[::1]:8080", loopback, [])).toBe(true);
    expect(hostAllowed("127.0.0.1:8081", loopback, [])).toBe(false);
    expect(hostAllowed("127.0.0.1", loopback, [])).toBe(false);
  });
  test("a rebound name is refused unless listed", () => {
    expect(hostAllowed("evil.example:8080", loopback, [])).toBe(false);
    expect(hostAllowed("scheduler.internal:8080", loopback, ["scheduler.internal"])).toBe(true);
    expect(hostAllowed("scheduler.internal:9000", loopback, ["scheduler.internal:8080"])).toBe(false);
    expect(hostAllowed("scheduler.internal", loopback, ["scheduler.internal:80"])).toBe(true);
    expect(hostAllowed("SCHEDULER.internal:8080", loopback, ["scheduler.internal"])).toBe(true);
  });
  test("bound to every address, only listed names pass", () => {
    const any = { host: "0.0.0.0", port: 8080 };
    expect(hostAllowed("localhost:8080", any, [])).toBe(false);
    expect(hostAllowed("10.1.2.3:8080", any, ["10.1.2.3"])).toBe(true);
  });
  test("a missing or malformed Host is refused", () => {
    expect(hostAllowed(null, loopback, [])).toBe(false);
    expect(hostAllowed("", loopback, [])).toBe(false);
    expect(hostAllowed("127.0.0.1:8080/x", loopback, [])).toBe(false);
    expect(hostAllowed("a b", loopback, ["a b"])).toBe(false);
    expect(splitHost("[::1]:80")).toEqual({ name: "[::1]", port: 80 });
  });
  test("an IPv6 bound address is compared in brackets", () => {
    expect(hostAllowed("[::1]:8080", { host: "::1", port: 8080 }, [])).toBe(true);
  });
});

describe("sameOrigin", () => {
  test("the Origin must be the page's own host", () => {
    expect(sameOrigin("http://127.0.0.1:8080", "127.0.0.1:8080", "same-origin")).toBe(true);
    expect(sameOrigin("http://127.0.0.1:8080", "127.0.0.1:8080", null)).toBe(true);
    expect(sameOrigin("http://evil.example", "127.0.0.1:8080", null)).toBe(false);
    expect(sameOrigin(null, "127.0.0.1:8080", null)).toBe(false);
    expect(sameOrigin("null", "127.0.0.1:8080", null)).toBe(false);
    expect(sameOrigin("http://127.0.0.1:8080", "127.0.0.1:8080", "cross-site")).toBe(false);
  });
});
