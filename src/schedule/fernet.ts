/**
 * Fernet (https://github.com/fernet/spec): authenticated symmetric sealing, byte-compatible with
 * Python's `cryptography.fernet`.
 *
 * Token layout, all of it URL-safe base64 with padding:
 *   0x80 | timestamp (u64, big-endian seconds) | IV (16) | AES-128-CBC + PKCS7 ciphertext | HMAC-SHA256 (32)
 * The key is 32 bytes: the first 16 sign, the last 16 encrypt.
 */
import { createCipheriv, createDecipheriv, createHmac, randomFillSync, timingSafeEqual } from "node:crypto";

const VERSION = 0x80;
const IV_BYTES = 16;
const MAC_BYTES = 32;
const HEADER_BYTES = 1 + 8 + IV_BYTES;
const BLOCK_BYTES = 16;
/** Python's `_MAX_CLOCK_SKEW`: a token stamped this far ahead of our clock is still accepted. */
const MAX_CLOCK_SKEW_SECONDS = 60;

/** Every code a {@link FernetError} can carry. */
export type FernetErrorCode =
  | "FERNET_INVALID_KEY" // not 32 bytes of URL-safe base64
  | "FERNET_INVALID_TOKEN" // malformed, tampered with, or sealed with another key: indistinguishable by design
  | "FERNET_TOKEN_EXPIRED" // authentic, but older than the TTL
  | "FERNET_TOKEN_FROM_FUTURE"; // authentic, but stamped more than 60 s ahead of our clock

/** A Fernet failure. Messages never contain the key, the token or the plaintext. */
export class FernetError extends Error {
  constructor(
    readonly code: FernetErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "FernetError";
  }
}

export interface EncryptOptions {
  /** Timestamp to stamp into the token (Unix seconds); defaults to the current time. */
  readonly nowSeconds?: number;
  /** A fixed 16-byte IV, for reproducing the spec's vectors; defaults to a random one. */
  readonly iv?: Uint8Array;
}

export interface DecryptOptions {
  /** Maximum token age; when omitted, the timestamp is not checked at all (as in Python). */
  readonly ttlSeconds?: number;
  /** Our clock (Unix seconds) for the TTL check; defaults to the current time. */
  readonly nowSeconds?: number;
}

/** A key parsed once, so sealing many messages does no key work per message. */
export interface FernetSealer {
  encrypt(plaintext: string | Uint8Array, opts?: EncryptOptions): string;
  decrypt(token: string, opts?: DecryptOptions): Buffer;
}

/** True when `key` is 32 bytes in URL-safe base64, the form Python's `Fernet.generate_key()` makes. */
export function isFernetKey(key: string): boolean {
  if (!/^[A-Za-z0-9_-]{43}=$/.test(key)) return false;
  return Buffer.from(key, "base64url").length === 32;
}

/** Parses `key` once and returns a sealer for it; throws `FERNET_INVALID_KEY` on a malformed key. */
export function fernetSealer(key: string): FernetSealer {
  if (typeof key !== "string" || !isFernetKey(key)) {
    throw new FernetError(
      "FERNET_INVALID_KEY",
      "Fernet key must be 32 bytes of URL-safe base64, as Fernet.generate_key() makes",
    );
  }
  const raw = Buffer.from(key, "base64url");
  const signingKey = raw.subarray(0, 16);
  const encryptionKey = raw.subarray(16, 32);
  const ivs = ivSource();

  return {
    encrypt(plaintext, opts = {}) {
      const iv = opts.iv ?? ivs();
      if (iv.length !== IV_BYTES) throw new RangeError(`Fernet IV must be ${IV_BYTES} bytes, got ${iv.length}`);
      const seconds = opts.nowSeconds ?? Date.now() / 1000;
      if (!(seconds >= 0 && seconds <= Number.MAX_SAFE_INTEGER)) {
        throw new RangeError(`Fernet timestamp must be a non-negative number of seconds, got ${seconds}`);
      }
      const text = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;

      const cipher = createCipheriv("aes-128-cbc", encryptionKey, iv);
      const body = cipher.update(text);
      const tail = cipher.final();
      const cipherBytes = body.length + tail.length;

      // One buffer for the whole token: header, ciphertext, then the MAC over everything before it.
      const token = Buffer.allocUnsafe(HEADER_BYTES + cipherBytes + MAC_BYTES);
      token[0] = VERSION;
      writeSeconds(token, Math.floor(seconds));
      token.set(iv, 9);
      token.set(body, HEADER_BYTES);
      token.set(tail, HEADER_BYTES + body.length);
      const signed = HEADER_BYTES + cipherBytes;
      createHmac("sha256", signingKey).update(token.subarray(0, signed)).digest().copy(token, signed);
      return toPaddedBase64Url(token);
    },

    decrypt(token, opts = {}) {
      const data = decodeToken(token);
      const signed = data.length - MAC_BYTES;
      const expected = createHmac("sha256", signingKey).update(data.subarray(0, signed)).digest();
      // Constant time, and BEFORE anything else reads the token: a forged token must learn nothing
      // (not even whether its padding or timestamp would have passed).
      if (!timingSafeEqual(expected, data.subarray(signed))) throw invalidToken();

      if (opts.ttlSeconds !== undefined) {
        // NaN would make every comparison false and silently disable expiry.
        if (!(opts.ttlSeconds >= 0)) {
          throw new RangeError(`Fernet TTL must be a non-negative number of seconds, got ${opts.ttlSeconds}`);
        }
        const now = Math.floor(opts.nowSeconds ?? Date.now() / 1000);
        const stamped = readSeconds(data);
        if (stamped + opts.ttlSeconds < now) {
          throw new FernetError("FERNET_TOKEN_EXPIRED", `Fernet token is older than its TTL of ${opts.ttlSeconds} s`);
        }
        if (now + MAX_CLOCK_SKEW_SECONDS < stamped) {
          throw new FernetError(
            "FERNET_TOKEN_FROM_FUTURE",
            `Fernet token is stamped more than ${MAX_CLOCK_SKEW_SECONDS} s in the future`,
          );
        }
      }

      const decipher = createDecipheriv("aes-128-cbc", encryptionKey, data.subarray(9, HEADER_BYTES));
      try {
        return Buffer.concat([decipher.update(data.subarray(HEADER_BYTES, signed)), decipher.final()]);
      } catch {
        // A valid MAC with bad padding means the encryption half of the key differs: same answer as any forgery.
        throw invalidToken();
      }
    },
  };
}

/** Seals `plaintext` with `key` into a Fernet token (padded URL-safe base64, as Python writes it). */
export function fernetEncrypt(key: string, plaintext: string | Uint8Array, opts?: EncryptOptions): string {
  return cachedSealer(key).encrypt(plaintext, opts);
}

/**
 * Opens a Fernet token: checks the MAC in constant time, then the TTL when one is given, then
 * decrypts. Throws a {@link FernetError}; a wrong key and a tampered token both give `FERNET_INVALID_TOKEN`.
 */
export function fernetDecrypt(key: string, token: string, opts?: DecryptOptions): Buffer {
  return cachedSealer(key).decrypt(token, opts);
}

// A process normally holds one key (ENCRYPTION_KEY), maybe two during a rotation; the bound only
// stops a caller cycling through keys from growing the map forever.
const SEALER_CACHE_LIMIT = 8;
const sealers = new Map<string, FernetSealer>();

function cachedSealer(key: string): FernetSealer {
  let sealer = sealers.get(key);
  if (sealer === undefined) {
    sealer = fernetSealer(key);
    if (sealers.size >= SEALER_CACHE_LIMIT) sealers.delete(sealers.keys().next().value as string);
    sealers.set(key, sealer);
  }
  return sealer;
}

/** Random IVs drawn 256 at a time: one CSPRNG call per 256 tokens instead of one per token. */
function ivSource(): () => Uint8Array {
  const pool = Buffer.allocUnsafe(IV_BYTES * 256);
  let next = pool.length;
  return () => {
    if (next === pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    // Each slice is handed out once and the pool is refilled before reuse; the cipher copies
    // the IV and `encrypt` copies it into the token before returning, so reuse is safe.
    const iv = pool.subarray(next, next + IV_BYTES);
    next += IV_BYTES;
    return iv;
  };
}

/**
 * Strict decoding: only the exact padded URL-safe base64 of the bytes is accepted (Node's decoder
 * would silently skip `%`, `+`, `/`, or trailing junk), then version and lengths are checked.
 */
function decodeToken(token: string): Buffer {
  if (typeof token !== "string") throw invalidToken();
  const data = Buffer.from(token, "base64url");
  if (toPaddedBase64Url(data) !== token) throw invalidToken();
  const cipherBytes = data.length - HEADER_BYTES - MAC_BYTES;
  if (data[0] !== VERSION || cipherBytes < BLOCK_BYTES || cipherBytes % BLOCK_BYTES !== 0) throw invalidToken();
  return data;
}

function toPaddedBase64Url(bytes: Buffer): string {
  const text = bytes.toString("base64url");
  return text.length % 4 === 0 ? text : text + "=".repeat(4 - (text.length % 4));
}

// The timestamp is 64 bits; written as two 32-bit halves to stay off BigInt on the hot path.
function writeSeconds(token: Buffer, seconds: number): void {
  token.writeUInt32BE(Math.floor(seconds / 2 ** 32) >>> 0, 1);
  token.writeUInt32BE(seconds >>> 0, 5);
}

function readSeconds(data: Buffer): number {
  return data.readUInt32BE(1) * 2 ** 32 + data.readUInt32BE(5);
}

function invalidToken(): FernetError {
  return new FernetError(
    "FERNET_INVALID_TOKEN",
    "Fernet token is invalid: malformed, tampered with, or sealed with another key",
  );
}
