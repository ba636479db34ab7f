import type { Change } from "../model/change.js";

/** What became of one change handed to a sink. */
export type DeliveryOutcome =
  | { status: "delivered" }
  /** Try again later; `notBefore` (epoch ms) comes from a `Retry-After` or a rate limit. */
  | { status: "retry"; error: string; notBefore?: number }
  /** The destination refused this change for good (a 4xx, a payload too large): dead-letter it. */
  | { status: "rejected"; error: string };

/**
 * A destination for committed changes. A sink only delivers: cursors, retries, backoff,
 * rate limits, filters, ordering per ref and dead letters belong to the dispatcher, so every
 * sink gets them the same way.
 *
 * `deliver` returns one outcome per change, in the order given. Throwing (or an abort of
 * `signal`, on timeout or shutdown) means "retry all of them". Every change carries a
 * stable `id`: the receiver's de-duplication key (CloudEvents `id`, `webhook-id`,
 * `Nats-Msg-Id`), the same on every redelivery and after a restart.
 */
export interface Sink {
  readonly name: string;
  readonly type: string;
  deliver(changes: readonly Change[], signal: AbortSignal): Promise<DeliveryOutcome[]>;
  close(): Promise<void>;
  /** What the sink knows of its destination beyond outcomes (an endpoint disabled by a 410). */
  health?(): SinkHealth;
}

/** A sink's own view of its destination. */
export interface SinkHealth {
  /** The destination said it is gone for good (HTTP 410): every change is rejected. */
  disabled: boolean;
  /** The last failure, secrets left out. */
  lastError?: string;
}

export const DELIVERED: DeliveryOutcome = { status: "delivered" };

/** One outcome for a whole batch, for sinks that write all or nothing. */
export function allDelivered(changes: readonly Change[]): DeliveryOutcome[] {
  return changes.map(() => DELIVERED);
}
