/**
 * Fernet (https://github.com/fernet/spec) sealing: authenticated symmetric encryption,
 * byte-compatible with Python's `cryptography.fernet`. Only the sealing half ships: the scheduler
 * never opens a token (the workers do; the tests play them, with test/support/fernet-open.ts).
 *
 * Token layout, all of it URL-safe base64 with padding:
 *   0x80 | timestamp (u64, big-endian seconds) | IV (16) | AES-128-CBC + PKCS7 ciphertext | HMAC-SHA256 (32)
 * The key is 32 bytes: the first 16 sign, the last 16 encrypt.
 */
import { createCipheriv, createHmac, randomFillSync } from "node:crypto";

export const FERNET_VERSION = 0x80;
const FERNET_IV_BYTES = 16;
export const FERNET_MAC_BYTES = 32;
export const FERNET_HEADER_BYTES = 1 + 8 + FERNET_IV_BYTES;

/** Every code a {@link FernetError} can carry: the key's here, the token's where a token is opened. */
type FernetErrorCode =
  | "FERNET_INVALID_KEY" // not 32 bytes of URL-safe base64
  | "FERNET_INVALID_TOKEN" // malformed, tampered with, or sealed with another key: indistinguishable by design
  | "FERNET_TOKEN_EXPIRED" // authentic, but older than the TTL
  | "FERNET_TOKEN_FROM_FUTURE"; // authentic, but stamped more than 60 s ahead of the opener's clock

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

/** A key parsed once, so sealing many messages does no key work per message. */
interface FernetSealer {
  encrypt(plaintext: string | Uint8Array, opts?: EncryptOptions): string;
}

/** True when `key` is 32 bytes in URL-safe base64, the form Python's `Fernet.generate_key()` makes. */
export function isFernetKey(key: string): boolean {
  if (!/^[A-Za-z0-9_-]{43}=$/.test(key)) return false;
  return Buffer.from(key, "base64url").length === 32;
}

/** The key's two halves; throws `FERNET_INVALID_KEY` on a malformed key. */
export function fernetKeyHalves(key: string): { signingKey: Buffer; encryptionKey: Buffer } {
  if (typeof key !== "string" || !isFernetKey(key)) {
    throw new FernetError(
      "FERNET_INVALID_KEY",
      "Fernet key must be 32 bytes of URL-safe base64, as Fernet.generate_key() makes",
    );
  }
  const raw = Buffer.from(key, "base64url");
  return { signingKey: raw.subarray(0, 16), encryptionKey: raw.subarray(16, 32) };
}

/** Parses `key` once and returns a sealer for it; throws `FERNET_INVALID_KEY` on a malformed key. */
export function fernetSealer(key: string): FernetSealer {
  const { signingKey, encryptionKey } = fernetKeyHalves(key);
  const ivs = ivSource();
  return {
    encrypt(plaintext, opts = {}) {
      const iv = opts.iv ?? ivs();
      if (iv.length !== FERNET_IV_BYTES) {
        throw new RangeError(`Fernet IV must be ${FERNET_IV_BYTES} bytes, got ${iv.length}`);
      }
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
      const token = Buffer.allocUnsafe(FERNET_HEADER_BYTES + cipherBytes + FERNET_MAC_BYTES);
      token[0] = FERNET_VERSION;
      writeSeconds(token, Math.floor(seconds));
      token.set(iv, 9);
      token.set(body, FERNET_HEADER_BYTES);
      token.set(tail, FERNET_HEADER_BYTES + body.length);
      const signed = FERNET_HEADER_BYTES + cipherBytes;
      createHmac("sha256", signingKey).update(token.subarray(0, signed)).digest().copy(token, signed);
      return toPaddedBase64Url(token);
    },
  };
}

/** Random IVs drawn 256 at a time: one CSPRNG call per 256 tokens instead of one per token. */
function ivSource(): () => Uint8Array {
  const pool = Buffer.allocUnsafe(FERNET_IV_BYTES * 256);
  let next = pool.length;
  return () => {
    if (next === pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    // Each slice is handed out once and the pool is refilled before reuse; the cipher copies
    // the IV and `encrypt` copies it into the token before returning, so reuse is safe.
    const iv = pool.subarray(next, next + FERNET_IV_BYTES);
    next += FERNET_IV_BYTES;
    return iv;
  };
}

/** Padded URL-safe base64, as Python writes a token. */
export function toPaddedBase64Url(bytes: Buffer): string {
  const text = bytes.toString("base64url");
  return text.length % 4 === 0 ? text : text + "=".repeat(4 - (text.length % 4));
}

// The timestamp is 64 bits; written as two 32-bit halves to stay off BigInt on the hot path.
function writeSeconds(token: Buffer, seconds: number): void {
  token.writeUInt32BE(Math.floor(seconds / 2 ** 32) >>> 0, 1);
  token.writeUInt32BE(seconds >>> 0, 5);
}
