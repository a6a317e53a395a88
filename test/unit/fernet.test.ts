import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { FernetError, fernetSealer, isFernetKey } from "../../src/schedule/fernet.ts";
import vectors from "../fixtures/fernet-spec-vectors.json";
import { fernetDecrypt, fernetEncrypt } from "../support/fernet-open.ts";

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);
const newKey = () => `${randomBytes(32).toString("base64url")}=`;
const SPEC_KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

/** Runs `fn` and returns the FernetError it throws (failing the test if it throws nothing else). */
function fernetErrorOf(fn: () => unknown): FernetError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FernetError);
    return error as FernetError;
  }
  throw new Error("expected a FernetError, nothing was thrown");
}

/** Re-encodes raw token bytes the way Python does (URL-safe, padded), so only the bytes are wrong. */
const encodeToken = (bytes: Buffer) => {
  const text = bytes.toString("base64url");
  return text + "=".repeat((4 - (text.length % 4)) % 4);
};

describe("Fernet spec vectors", () => {
  test.each(vectors.generate.map((v) => [v.src, v]))("generate %p produces the exact token", (_, v) => {
    expect(fernetEncrypt(v.secret, v.src, { nowSeconds: seconds(v.now), iv: Uint8Array.from(v.iv) })).toBe(v.token);
  });

  test.each(vectors.verify.map((v) => [v.src, v]))("verify %p opens to the source text", (_, v) => {
    const opened = fernetDecrypt(v.secret, v.token, { ttlSeconds: v.ttl_sec, nowSeconds: seconds(v.now) });
    expect(opened.toString("utf8")).toBe(v.src);
  });

  test.each(vectors.invalid.map((v) => [v.desc, v]))("invalid %p is rejected", (desc, v) => {
    const error = fernetErrorOf(() =>
      fernetDecrypt(v.secret, v.token, { ttlSeconds: v.ttl_sec, nowSeconds: seconds(v.now) }),
    );
    const expected =
      desc === "expired TTL"
        ? "FERNET_TOKEN_EXPIRED"
        : desc.startsWith("far-future")
          ? "FERNET_TOKEN_FROM_FUTURE"
          : "FERNET_INVALID_TOKEN";
    expect(error.code).toBe(expected);
    expect(error.message).not.toContain(v.secret);
  });

  test("the fixture holds every published vector", () => {
    expect([vectors.generate.length, vectors.verify.length, vectors.invalid.length]).toEqual([1, 1, 11]);
  });
});

describe("fernetEncrypt / fernetDecrypt", () => {
  test("round-trips text and bytes, including empty and multi-block payloads", () => {
    const key = newKey();
    for (const text of ["", "x", "exactly sixteen!", "é🙂".repeat(100), JSON.stringify({ a: [1, 2, 3] })]) {
      expect(fernetDecrypt(key, fernetEncrypt(key, text)).toString("utf8")).toBe(text);
    }
    const bytes = randomBytes(1024);
    expect(fernetDecrypt(key, fernetEncrypt(key, bytes)).equals(bytes)).toBe(true);
  });

  test("writes version 0x80, the big-endian timestamp, and padded URL-safe base64", () => {
    const key = newKey();
    const stamp = 2 ** 33 + 7; // needs the high 32-bit half
    const token = fernetEncrypt(key, "hello", { nowSeconds: stamp });
    expect(token).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
    expect(token.length % 4).toBe(0);
    const raw = Buffer.from(token, "base64url");
    expect(raw[0]).toBe(0x80);
    expect(raw.readBigUInt64BE(1)).toBe(BigInt(stamp));
    expect(raw.length).toBe(1 + 8 + 16 + 16 + 32);
  });

  test("truncates a fractional timestamp to whole seconds, as Python does", () => {
    const token = fernetEncrypt(newKey(), "x", { nowSeconds: 1_700_000_000.999 });
    expect(Buffer.from(token, "base64url").readBigUInt64BE(1)).toBe(1_700_000_000n);
  });

  test("uses a fresh IV for every token", () => {
    const key = newKey();
    const ivs = new Set<string>();
    for (let i = 0; i < 600; i++) {
      ivs.add(
        Buffer.from(fernetEncrypt(key, "same", { nowSeconds: 1 }), "base64url")
          .subarray(9, 25)
          .toString("hex"),
      );
    }
    expect(ivs.size).toBe(600);
  });

  test("a sealer gives the same tokens as the one-shot functions", () => {
    const key = newKey();
    const opts = { nowSeconds: 1_800_000_000, iv: new Uint8Array(16).fill(9) };
    const sealer = fernetSealer(key);
    expect(sealer.encrypt("payload", opts)).toBe(fernetEncrypt(key, "payload", opts));
    expect(fernetDecrypt(key, sealer.encrypt("payload")).toString()).toBe("payload");
  });

  test("rejects a token sealed with another key, without naming either key", () => {
    const [a, b] = [newKey(), newKey()];
    const error = fernetErrorOf(() => fernetDecrypt(b, fernetEncrypt(a, "secret data")));
    expect(error.code).toBe("FERNET_INVALID_TOKEN");
    expect(error.message).toBe("Fernet token is invalid: malformed, tampered with, or sealed with another key");
    expect(error.message).not.toContain(a);
    expect(error.message).not.toContain(b);
  });

  test("rejects a token with any single byte flipped", () => {
    const key = newKey();
    const raw = Buffer.from(fernetEncrypt(key, "tamper with me", { nowSeconds: 1000 }), "base64url");
    for (let i = 0; i < raw.length; i++) {
      const copy = Buffer.from(raw);
      copy[i]! ^= 0x01;
      expect(fernetErrorOf(() => fernetDecrypt(key, encodeToken(copy))).code).toBe("FERNET_INVALID_TOKEN");
    }
  });

  test("rejects an unpadded token, which Python also refuses", () => {
    const key = newKey();
    const token = fernetEncrypt(key, "hi");
    expect(token.endsWith("=")).toBe(true);
    expect(fernetErrorOf(() => fernetDecrypt(key, token.replace(/=+$/, ""))).code).toBe("FERNET_INVALID_TOKEN");
  });

  test("rejects a non-string token and an empty one", () => {
    const key = newKey();
    expect(fernetErrorOf(() => fernetDecrypt(key, "")).code).toBe("FERNET_INVALID_TOKEN");
    expect(fernetErrorOf(() => fernetDecrypt(key, 42 as unknown as string)).code).toBe("FERNET_INVALID_TOKEN");
  });

  test("checks age only when a TTL is given, allowing 60 s of clock skew", () => {
    const key = newKey();
    const token = fernetEncrypt(key, "t", { nowSeconds: 10_000 });
    expect(fernetDecrypt(key, token, { nowSeconds: 99_999_999 }).toString()).toBe("t");
    expect(fernetDecrypt(key, token, { ttlSeconds: 60, nowSeconds: 10_060 }).toString()).toBe("t");
    expect(fernetErrorOf(() => fernetDecrypt(key, token, { ttlSeconds: 60, nowSeconds: 10_061 })).code).toBe(
      "FERNET_TOKEN_EXPIRED",
    );
    expect(fernetDecrypt(key, token, { ttlSeconds: 60, nowSeconds: 9_940 }).toString()).toBe("t");
    expect(fernetErrorOf(() => fernetDecrypt(key, token, { ttlSeconds: 60, nowSeconds: 9_939 })).code).toBe(
      "FERNET_TOKEN_FROM_FUTURE",
    );
  });

  test("reports a forged token as invalid, not expired, even when its timestamp is old", () => {
    const key = newKey();
    const raw = Buffer.from(fernetEncrypt(key, "t", { nowSeconds: 10_000 }), "base64url");
    raw[raw.length - 1]! ^= 0xff;
    const error = fernetErrorOf(() => fernetDecrypt(key, encodeToken(raw), { ttlSeconds: 1, nowSeconds: 50_000 }));
    expect(error.code).toBe("FERNET_INVALID_TOKEN");
  });

  test("refuses a malformed key without echoing it", () => {
    const bad = "not-a-key-but-a-secret-value";
    for (const call of [() => fernetEncrypt(bad, "x"), () => fernetDecrypt(bad, "gAAAA"), () => fernetSealer(bad)]) {
      const error = fernetErrorOf(call);
      expect(error.code).toBe("FERNET_INVALID_KEY");
      expect(error.message).toBe("Fernet key must be 32 bytes of URL-safe base64, as Fernet.generate_key() makes");
    }
  });

  test("refuses an IV that is not 16 bytes, a negative timestamp and a NaN TTL", () => {
    const key = newKey();
    expect(() => fernetEncrypt(key, "x", { iv: new Uint8Array(8) })).toThrow("Fernet IV must be 16 bytes, got 8");
    expect(() => fernetEncrypt(key, "x", { nowSeconds: -1 })).toThrow(RangeError);
    expect(() => fernetDecrypt(key, fernetEncrypt(key, "x"), { ttlSeconds: Number.NaN })).toThrow(RangeError);
  });
});

describe("isFernetKey", () => {
  test("accepts the spec's key and freshly generated keys", () => {
    expect(isFernetKey(SPEC_KEY)).toBe(true);
    expect(isFernetKey(newKey())).toBe(true);
  });

  test("rejects empty, wrong lengths and standard base64 with + or /", () => {
    const standard = Buffer.from(SPEC_KEY, "base64url").toString("base64"); // contains "/"
    expect(standard).toContain("/");
    const rejected = [
      "",
      "=",
      `${SPEC_KEY.slice(0, -2)}=`, // 31.x bytes
      `${SPEC_KEY.slice(0, -1)}A=`, // 45 characters
      `${randomBytes(16).toString("base64url")}==`, // a 16-byte key
      randomBytes(48).toString("base64url"), // 48 bytes
      standard,
      `+${SPEC_KEY.slice(1)}`,
      `${SPEC_KEY.slice(0, 10)}+${SPEC_KEY.slice(11)}`,
      ` ${SPEC_KEY}`,
      `${SPEC_KEY}\n`,
    ];
    for (const key of rejected) expect({ key, ok: isFernetKey(key) }).toEqual({ key, ok: false });
  });
});
