/**
 * Failed authentication made visible and slow. Each refused attempt is a `CONSOLE REFUSED` line
 * (source address, path, why), folded when the same one repeats; each is counted; and an address
 * with {@link MAX_FAILURES} failures within {@link WINDOW_MS} is answered 429 for
 * {@link BLOCK_MS} without its token being looked at. The limit is per source address: a right
 * token from any other address is never held up. Pure but for the logger and the timer of the
 * folded line; the clock is passed in.
 */
import type { Logger } from "../observe/log.ts";

/** Failures of one address within {@link WINDOW_MS} before it is refused for {@link BLOCK_MS}. */
export const MAX_FAILURES = 10;
export const WINDOW_MS = 60_000;
export const BLOCK_MS = 60_000;
/** A line repeated within this long is folded into one "N more" line at its end. */
export const FOLD_MS = 10_000;
/** Addresses remembered at once; past it the oldest is forgotten, so a spray of sources costs bounded memory. */
const MAX_ADDRESSES = 10_000;
const MAX_FOLDS = 1_000;

/** Why an attempt was refused, as the metric's `reason` label says it. */
export type RefusalReason = "missing" | "wrong" | "limited";

const WHY: Record<RefusalReason, string> = {
  missing: "no console token (401)",
  wrong: "wrong console token (401)",
  limited: `too many failed attempts from this address (429)`,
};

export interface Refusals {
  /** Milliseconds this address must still wait, or 0. */
  blockedFor(address: string): number;
  /** A refused attempt: counted, logged (folded), and towards the address's limit unless already limited. */
  refused(address: string, path: string, reason: RefusalReason): void;
  /** A right token: the address's failures are forgiven. */
  accepted(address: string): void;
  /** Emits the folded lines still pending (on shutdown, or in tests). */
  flush(): void;
}

interface Tally {
  failures: number;
  windowStartMs: number;
  blockedUntilMs: number;
}

interface Fold {
  readonly address: string;
  readonly path: string;
  readonly reason: RefusalReason;
  more: number;
  timer: ReturnType<typeof setTimeout> | null;
}

export function createRefusals(
  log: Logger,
  count: (reason: RefusalReason) => void,
  now: () => number = Date.now,
): Refusals {
  const tallies = new Map<string, Tally>();
  const folds = new Map<string, Fold>();

  const line = (fold: Fold, more: number) => {
    const path = fold.path;
    const repeated = more > 0 ? `; ${more} more time(s) in ${FOLD_MS / 1000} s` : "";
    log.warn(`CONSOLE REFUSED from=${fold.address} path=${path}: ${WHY[fold.reason]}${repeated}`, {
      remote: fold.address,
      path,
      reason: fold.reason,
      repeated: more,
    });
  };
  const close = (key: string) => {
    const fold = folds.get(key);
    if (!fold) return;
    folds.delete(key);
    if (fold.timer) clearTimeout(fold.timer);
    if (fold.more > 0) line(fold, fold.more);
  };

  return {
    blockedFor(address) {
      const tally = tallies.get(address);
      return tally ? Math.max(0, tally.blockedUntilMs - now()) : 0;
    },
    refused(address, fullPath, reason) {
      count(reason);
      // Cut and copied before it is kept: a path can be 16 KiB, a thousand folds would hold them
      // all, and a mere slice keeps its whole string alive (JavaScriptCore shares the storage).
      const path = fullPath.length > 120 ? `${[...fullPath.slice(0, 120)].join("")}…` : fullPath;
      const at = now();
      if (reason !== "limited") {
        let tally = tallies.get(address);
        if (!tally || at - tally.windowStartMs > WINDOW_MS) {
          tallies.delete(address);
          tally = { failures: 0, windowStartMs: at, blockedUntilMs: 0 };
          tallies.set(address, tally);
          if (tallies.size > MAX_ADDRESSES) tallies.delete(tallies.keys().next().value!);
        }
        tally.failures += 1;
        if (tally.failures >= MAX_FAILURES) tally.blockedUntilMs = at + BLOCK_MS;
      }
      // While an address is limited every request it sends is refused: folded whatever its path,
      // or a loop over made-up paths would write one line per request.
      const key = reason === "limited" ? `${address}\n\n${reason}` : `${address}\n${path}\n${reason}`;
      const fold = folds.get(key);
      if (fold) {
        fold.more += 1;
        return;
      }
      if (folds.size >= MAX_FOLDS) close(folds.keys().next().value!);
      const fresh: Fold = { address, path, reason, more: 0, timer: null };
      folds.set(key, fresh);
      line(fresh, 0);
      fresh.timer = setTimeout(() => close(key), FOLD_MS);
      fresh.timer.unref?.();
    },
    accepted(address) {
      tallies.delete(address);
    },
    flush() {
      for (const key of [...folds.keys()]) close(key);
    },
  };
}
