/**
 * The worker's half of Fernet, for the tests that play the worker: open a token the scheduler
 * sealed (src/schedule/fernet.ts ships only the sealing half). Checks the MAC in constant time,
 * then the TTL when one is given, then decrypts, as Python's `cryptography.fernet` does.
 */
import { createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";
import {
  type EncryptOptions,
  FERNET_HEADER_BYTES,
  FERNET_MAC_BYTES,
  FERNET_VERSION,
  FernetError,
  fernetKeyHalves,
  fernetSealer,
  toPaddedBase64Url,
} from "../../src/schedule/fernet.ts";

const BLOCK_BYTES = 16;
/** Python's `_MAX_CLOCK_SKEW`: a token stamped this far ahead of our clock is still accepted. */
const MAX_CLOCK_SKEW_SECONDS = 60;

export interface DecryptOptions {
  /** Maximum token age; when omitted, the timestamp is not checked at all (as in Python). */
  readonly ttlSeconds?: number;
  /** Our clock (Unix seconds) for the TTL check; defaults to the current time. */
  readonly nowSeconds?: number;
}

/** Seals `plaintext` with `key`, as the scheduler does. */
export function fernetEncrypt(key: string, plaintext: string | Uint8Array, opts?: EncryptOptions): string {
  return fernetSealer(key).encrypt(plaintext, opts);
}

/** Opens a token; a wrong key and a tampered token both give `FERNET_INVALID_TOKEN`. */
export function fernetDecrypt(key: string, token: string, opts: DecryptOptions = {}): Buffer {
  const { signingKey, encryptionKey } = fernetKeyHalves(key);
  const data = decodeToken(token);
  const signed = data.length - FERNET_MAC_BYTES;
  const expected = createHmac("sha256", signingKey).update(data.subarray(0, signed)).digest();
  // Constant time, and BEFORE anything else reads the token: a forged token must learn nothing.
  if (!timingSafeEqual(expected, data.subarray(signed))) throw invalidToken();

  if (opts.ttlSeconds !== undefined) {
    // NaN would make every comparison false and silently disable expiry.
    if (!(opts.ttlSeconds >= 0)) {
      throw new RangeError(`Fernet TTL must be a non-negative number of seconds, got ${opts.ttlSeconds}`);
    }
    const now = Math.floor(opts.nowSeconds ?? Date.now() / 1000);
    const stamped = data.readUInt32BE(1) * 2 ** 32 + data.readUInt32BE(5);
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

  const decipher = createDecipheriv("aes-128-cbc", encryptionKey, data.subarray(9, FERNET_HEADER_BYTES));
  try {
    return Buffer.concat([decipher.update(data.subarray(FERNET_HEADER_BYTES, signed)), decipher.final()]);
  } catch {
    // A valid MAC with bad padding means the encryption half of the key differs: same answer as any forgery.
    throw invalidToken();
  }
}

/**
 * Strict decoding: only the exact padded URL-safe base64 of the bytes is accepted (Node's decoder
 * would silently skip `%`, `+`, `/`, or trailing junk), then version and lengths are checked.
 */
function decodeToken(token: string): Buffer {
  if (typeof token !== "string") throw invalidToken();
  const data = Buffer.from(token, "base64url");
  if (toPaddedBase64Url(data) !== token) throw invalidToken();
  const cipherBytes = data.length - FERNET_HEADER_BYTES - FERNET_MAC_BYTES;
  if (data[0] !== FERNET_VERSION || cipherBytes < BLOCK_BYTES || cipherBytes % BLOCK_BYTES !== 0) throw invalidToken();
  return data;
}

function invalidToken(): FernetError {
  return new FernetError(
    "FERNET_INVALID_TOKEN",
    "Fernet token is invalid: malformed, tampered with, or sealed with another key",
  );
}
