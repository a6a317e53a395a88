/**
 * The engine's ports: what src/engine/engine.ts (and the batch code in src/engine/fire.ts) needs from the
 * database and the broker, and nothing more. The service plugs in src/postgres/engine-store.ts and a broker link;
 * the unit tests plug in the fakes of test/support/engine-fakes.ts.
 */

import { messageOf } from "../error-text.ts";
import type { ClaimedRow, OutgoingMessage } from "../schedule/message.ts";
import type { PublishOutcome, RowUpdate } from "../schedule/plan.ts";

export interface PollResult {
  /** The database clock at the poll, epoch ms. */
  readonly dbNowMs: number;
  /** Earliest valid active slot due within the look-ahead (may already be due), or null. */
  readonly nextSlotMs: number | null;
  /** Valid active rows due now (capped by the store, it is a gauge). */
  readonly dueCount: number;
}

/** What one claim asks for. */
export interface ClaimRequest {
  /** Rows to lock at most (SCHEDULER_BATCH_SIZE). */
  readonly limit: number;
  /**
   * Message bytes to hold at most (SCHEDULER_BATCH_BYTES), counted as `workflow_data` text plus
   * a fixed overhead a row. The first row is always taken, however large.
   */
  readonly budgetBytes?: number;
  /** Rows this process has set aside (see the engine's quarantine): never claimed. */
  readonly skipIds?: readonly number[];
}

/** A row whose outcome the database refused to record as planned. */
export interface RejectedRow {
  readonly id: number;
  readonly reason: string;
  /** True when the row was still moved on to its next slot; false when it is untouched. */
  readonly movedOn: boolean;
}

/** What one claim transaction did. */
export interface BatchResult {
  /** Rows claimed and handed to `fire`. */
  readonly claimed: number;
  /** Rows locked: more than `claimed` when the byte budget cut the batch (more are due). */
  readonly locked: number;
  /** Rows whose outcome the database refused to record as planned. */
  readonly rejected: readonly RejectedRow[];
  /** Fires recorded on their rows but left out of the fire history, and why; absent: none. */
  readonly historyLost?: { readonly reason: string; readonly fires: number } | null;
}

/** An active row the engine will never claim, with why. */
export interface InvalidRow {
  readonly id: number;
  /** What is wrong with it, in words an operator can act on. */
  readonly reason: string;
}

/**
 * How a store failed, in the engine's terms: the store adapter turns its driver's errors into
 * one of these, so the engine decides without knowing the driver. `connection lost` means the
 * session is gone (reconnect, and count it as an outage); `table locked` means another session
 * holds a lock the claim needs (wait; nothing was claimed); `refused` means retrying cannot help
 * (credentials, a missing database); `statement failed` is any other error of a statement.
 */
type StoreFailureKind = "connection lost" | "table locked" | "refused" | "statement failed";

export class StoreFailure extends Error {
  constructor(
    readonly kind: StoreFailureKind,
    override readonly cause: unknown,
  ) {
    super(messageOf(cause));
    this.name = "StoreFailure";
  }
}

/**
 * Opening the broker link was refused for good (credentials, a vhost, a queue this user may not
 * declare): the broker adapter says so, as only it can read the broker's replies.
 */
export class PublisherRefused extends Error {
  constructor(override readonly cause: unknown) {
    super(messageOf(cause));
    this.name = "PublisherRefused";
  }
}

/** The database side: built by `createEngineStore` (src/postgres/engine-store.ts). */
export interface EngineStore {
  /** A round trip; says which server answered, for the lines about the connection. */
  ping(): Promise<string>;
  poll(lookAheadMs: number, skipIds: readonly number[]): Promise<PollResult>;
  /** One claim transaction: lock due rows, let `fire` publish them, write its updates, commit. */
  claimBatch(
    request: ClaimRequest,
    fire: (rows: ClaimedRow[], dbNowMs: number) => Promise<RowUpdate[]>,
  ): Promise<BatchResult>;
  findInvalid(): Promise<InvalidRow[]>;
  countPaused(): Promise<number>;
}

/** The broker side: a `BrokerLink` (opened by `openBrokerLink`, src/rabbitmq/broker.ts) is one. */
export interface Publisher {
  /** Publishes every message, waits for the broker, returns one outcome per message, in order. */
  publishBatch(messages: readonly OutgoingMessage[]): Promise<PublishOutcome[]>;
  readonly connected: boolean;
  /** True while the broker applies flow control (memory or disk alarm); absent: never blocks. */
  readonly blocked?: boolean;
  /** While blocked: why, in the operator's words ("memory alarm"). */
  readonly blockedReason?: string | null;
  /**
   * Set once the broker refused this link's publishes for good (403: the user may not write to
   * the queue): the broker's words. A start-up ends on it; a running scheduler retries.
   */
  readonly refused?: string | null;
  /** Why the link is gone, once it is. */
  readonly closedReason?: string | null;
  /** The node this link is connected to (a redacted URL), for the lines about it. */
  readonly where?: string | null;
  /** The broker's max message body size, once it refused a larger message by closing the channel. */
  readonly maxBodyBytes?: number | null;
  close(): Promise<void>;
}
