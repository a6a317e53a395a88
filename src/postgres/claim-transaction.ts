/** One claim transaction: the table lock, the claim, the publish, the write-back, the commit (docs/design.md §5). */

import type { BatchResult } from "../engine/ports.ts";
import type { ClaimedRow } from "../schedule/message.ts";
import type { RowUpdate } from "../schedule/plan.ts";
import {
  isConnectionError,
  isSessionAlive,
  LOCAL_LIMITS,
  SESSION_LIMITS,
  type Sql,
  StatementDeadlineError,
} from "./client.ts";
import type { FireHistoryTarget } from "./fire-history.ts";
import { recordIsolated } from "./record.ts";
import { type ClaimStatement, claimDue } from "./store.ts";

/** What a transaction callback returns once its connection is gone: a promise that never settles. */
const stranded = () => new Promise<never>(() => {});

/**
 * One claim transaction. ORDER MATTERS: the table lock the UPDATE needs is taken first, then the
 * rows are locked, `fire` publishes them and waits for the broker, and only then are the
 * outcomes written and the transaction committed; a crash at any point before the commit
 * leaves every row due again (at-least-once, same message ids).
 *
 * THE TABLE LOCK FIRST: row locks (`FOR NO KEY UPDATE`) are granted under a SHARE lock (a plain
 * CREATE INDEX), but the UPDATE is not; without this, a batch would be published, its UPDATE
 * would wait until the statement timeout, roll back, and be published again. Taking ROW
 * EXCLUSIVE (what the UPDATE takes anyway) before claiming means nothing is published that
 * cannot be recorded: under such a lock the LOCK waits `lock_timeout` and fails with 55P03,
 * having claimed and published nothing, and the engine tries again.
 *
 * CONNECTION LOSS: once the connection is gone (closed, or silent past `deadlineMs` in a
 * statement), the callback must issue NO further statement, not even the ROLLBACK postgres.js
 * sends when a callback throws: postgres.js 3.4.9 writes it to the dead socket from a timer, and
 * that TypeError cannot be caught and ends the process (porsager/postgres#1208). So the callback
 * is stranded (left pending; nothing refers to it, so it is collected) and this function rejects
 * with the connection error. The server rolls the transaction back when the session ends.
 */
export async function claimBatch(
  sql: Sql,
  request: ClaimStatement,
  fire: (rows: ClaimedRow[], dbNowMs: number) => Promise<RowUpdate[]>,
  deadlineMs: number = SESSION_LIMITS.statementDeadlineMs,
  history: FireHistoryTarget | null = null,
): Promise<BatchResult> {
  let lost = false;
  let firing: Promise<RowUpdate[]> | null = null;
  let giveUp!: (error: Error) => void;
  const gaveUp = new Promise<never>((_, reject) => (giveUp = reject));
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const watch = (what: string) => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      lost = true;
      giveUp(new StatementDeadlineError(what, deadlineMs));
    }, deadlineMs);
  };
  const step = async <T>(statement: Promise<T>): Promise<T> => {
    try {
      const value = await statement;
      if (!lost) return value;
    } catch (error) {
      if (!lost && (!isConnectionError(error) || isSessionAlive(error))) throw error;
      lost = true;
    }
    return stranded();
  };

  watch("BEGIN, locking and claiming due rows");
  const transaction = sql.begin(async (tx) => {
    const txSql = tx as unknown as Sql;
    // The limits for this transaction alone (SET LOCAL), so they hold through a transaction
    // pooler too, where the start-up packet cannot carry them (client.ts startupParameters).
    const [a, b, c] = LOCAL_LIMITS as [[string, string], [string, string], [string, string]];
    const limits = txSql`SELECT set_config(${a[0]}, ${a[1]}, true), set_config(${b[0]}, ${b[1]}, true),
      set_config(${c[0]}, ${c[1]}, true)`.execute();
    limits.catch(() => {}); // its error is the lock's too, awaited there
    // Pipelined: one round trip. `execute()` sends the LOCK now, before the claim (postgres.js
    // sends a query only once awaited); if the LOCK fails, the claim fails with it.
    const tableLock = txSql`LOCK TABLE scheduled_workflows IN ROW EXCLUSIVE MODE`.execute();
    const claim = claimDue(txSql, request);
    claim.catch(() => {}); // its error is the lock's when the lock fails; awaited below otherwise
    // Awaited below, unless the limits' statement already lost the connection (then stranded).
    tableLock.catch(() => {});
    await step(limits);
    await step(tableLock);
    const { rows, dbNowMs, locked } = await step(claim);
    if (rows.length === 0) return { claimed: 0, locked, rejected: [] };
    // Publishing has its own bound (the broker's confirm deadline, which measures silence).
    clearTimeout(watchdog);
    let updates: RowUpdate[];
    try {
      firing = fire(rows, dbNowMs);
      updates = await keepAlive(firing, () => step(txSql`SELECT 1`));
    } catch (error) {
      if (lost) return stranded();
      throw error;
    }
    if (lost) return stranded();
    watch("recording outcomes and COMMIT");
    const rejected = await step(recordIsolated(txSql, updates, history));
    return { claimed: rows.length, locked, rejected };
  });
  // postgres.js rejects `begin` as soon as the connection closes, even while `fire` still runs.
  transaction.catch(() => (lost = true));
  try {
    return await Promise.race([transaction, gaveUp]);
  } catch (error) {
    // ORDER: a publish still in flight settles first (its confirm deadline bounds it), so no batch
    // of a lost transaction goes on using the broker link after the engine has moved on.
    await (firing as Promise<RowUpdate[]> | null)?.catch(() => {});
    throw error;
  } finally {
    clearTimeout(watchdog);
  }
}

/** Between statements that keep a claim transaction alive while its batch is being published. */
const KEEPALIVE_MS = 5_000;

/**
 * Waits for `work`, running `ping` every {@link KEEPALIVE_MS} meanwhile. A batch on a slow link
 * that keeps confirming may take longer than idle_in_transaction_session_timeout (20 s); without
 * a statement now and then the server would end the session, and the confirmed batch would be
 * published again. A stalled or partitioned scheduler sends nothing, so the server still frees
 * its claims to the others.
 */
async function keepAlive<T>(work: Promise<T>, ping: () => Promise<unknown>): Promise<T> {
  const done = work.then(
    () => true,
    () => true,
  );
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), KEEPALIVE_MS);
    });
    const finished = await Promise.race([done, tick]);
    clearTimeout(timer);
    if (finished) return work;
    await ping();
  }
}
