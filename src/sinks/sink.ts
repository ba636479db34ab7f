import type { Change } from "../model/change.js";

/**
 * A destination for committed changes. A sink only delivers: cursors, retries, ordering
 * and dead letters belong to the dispatcher, so every sink gets them the same way.
 * `deliver` must throw when any change of the batch was not delivered.
 */
export interface Sink {
  readonly name: string;
  readonly type: string;
  deliver(changes: Change[]): Promise<void>;
  close(): Promise<void>;
}
