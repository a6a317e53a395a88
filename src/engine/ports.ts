/**
 * The engine's ports: what src/engine/engine.ts (and the batch code in src/engine/fire.ts) needs from the
 * database and the broker, and nothing more. The service plugs in src/postgres/engine-store.ts and a broker link;
 * the unit tests plug in the fakes of test/support/engine-fakes.ts.
 */

import type { BatchResult } from "../postgres/claim-transaction.ts";
import type { InvalidRow } from "../postgres/invalid-rows.ts";
import type { ClaimRequest, PollResult } from "../postgres/store.ts";
import type { ClaimedRow, OutgoingMessage } from "../schedule/message.ts";
import type { PublishOutcome, RowUpdate } from "../schedule/plan.ts";

/** The database side: built by `createEngineStore` (src/postgres/engine-store.ts). */
export interface EngineStore {
  ping(): Promise<void>;
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
  /** Why the link is gone, once it is. */
  readonly closedReason?: string | null;
  /** The broker's max message body size, once it refused a larger message by closing the channel. */
  readonly maxBodyBytes?: number | null;
  close(): Promise<void>;
}
