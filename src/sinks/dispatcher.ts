import type { Logger } from "pino";
import type { Change, ChangeType } from "../model/change.js";
import { errorMessage } from "../model/errors.js";
import type { Store } from "../store/store.js";
import type { Sink } from "./sink.js";

export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** Attempts per batch before its changes are dead-lettered and the cursor moves on. */
  maxAttempts: number;
}

export interface DispatchTarget {
  sink: Sink;
  /** Only these types are delivered; others are skipped (the cursor still moves past them). */
  types?: ChangeType[];
}

export interface DispatcherOptions {
  store: Store;
  targets: DispatchTarget[];
  log: Logger;
  batchSize?: number;
  /** Fallback poll for commits made by another process; in-process commits call wake(). */
  pollIntervalMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Called after each successful delivery (latency measurement, metrics). */
  onDelivered?: (sink: string, changes: Change[]) => void;
}

const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 200, maxDelayMs: 30_000, maxAttempts: 10 };

/**
 * Feeds every sink from the change log after the sink's own stored cursor: at least once,
 * in seq order, surviving restarts. Nothing is fed from memory, so a sink that was down
 * catches up from the log.
 */
export class Dispatcher {
  private readonly loops: SinkLoop[];

  constructor(options: DispatcherOptions) {
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    this.loops = options.targets.map((target) => new SinkLoop(options, target, retry));
  }

  start(): void {
    for (const loop of this.loops) loop.start();
  }

  /** New changes were committed: look now instead of at the next poll. */
  wake(): void {
    for (const loop of this.loops) loop.wake();
  }

  /** Delivers everything committed so far (with retries), then stops the loops. */
  async stop(options: { drain: boolean } = { drain: true }): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.stop(options.drain)));
  }
}

class SinkLoop {
  private stopping = false;
  private draining = false;
  private wakeUp: (() => void) | null = null;
  private sleepIsWakeable = true;
  private done: Promise<void> | null = null;
  private readonly consumer: string;

  constructor(
    private readonly options: DispatcherOptions,
    private readonly target: DispatchTarget,
    private readonly retry: RetryPolicy,
  ) {
    this.consumer = `sink:${target.sink.name}`;
  }

  start(): void {
    this.done = this.run().catch((err) => {
      this.options.log.error(
        { err, sink: this.target.sink.name },
        "sink loop stopped on an unexpected error",
      );
    });
  }

  wake(): void {
    if (this.sleepIsWakeable) this.wakeUp?.();
  }

  async stop(drain: boolean): Promise<void> {
    this.draining = drain;
    this.stopping = true;
    this.wakeUp?.();
    await this.done;
    await this.target.sink.close();
  }

  private async run(): Promise<void> {
    const { store } = this.options;
    let cursor = await store.getConsumerCursor(this.consumer);
    for (;;) {
      const batch = await store.readChanges({
        afterSeq: cursor,
        limit: this.options.batchSize ?? 500,
      });
      if (batch.length === 0) {
        if (this.stopping) return;
        await this.sleep(this.options.pollIntervalMs ?? 1000);
        continue;
      }
      if (this.stopping && !this.draining) return;
      const wanted = this.target.types
        ? batch.filter((c) => this.target.types?.includes(c.type))
        : batch;
      // Stopping mid-retry leaves the cursor where it is: the batch is redelivered on restart.
      if (wanted.length > 0 && !(await this.deliverWithRetry(wanted))) return;
      cursor = batch[batch.length - 1]!.seq;
      await store.setConsumerCursor(this.consumer, cursor);
    }
  }

  /** True once delivered or dead-lettered; false when shutdown interrupted the retries. */
  private async deliverWithRetry(changes: Change[]): Promise<boolean> {
    const { sink } = this.target;
    let delay = this.retry.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await sink.deliver(changes);
        this.options.onDelivered?.(sink.name, changes);
        return true;
      } catch (err) {
        const last = attempt >= this.retry.maxAttempts;
        this.options.log.warn(
          {
            err,
            sink: sink.name,
            attempt,
            firstSeq: changes[0]?.seq,
            lastSeq: changes.at(-1)?.seq,
          },
          last
            ? "sink delivery failed; dead-lettering the batch"
            : "sink delivery failed; will retry",
        );
        if (last) {
          await this.deadLetter(changes, err, attempt);
          return true;
        }
        if (this.stopping) return false;
        await this.sleep(delay, false);
        delay = Math.min(delay * 2, this.retry.maxDelayMs);
      }
    }
  }

  private async deadLetter(changes: Change[], err: unknown, attempts: number): Promise<void> {
    for (const change of changes) {
      await this.options.store.addDeadLetter({
        consumer: this.consumer,
        seq: change.seq,
        error: errorMessage(err),
        attempts,
      });
    }
  }

  /** Waits; returns early on stop, and on wake() unless backing off after a failure. */
  private sleep(ms: number, wakeable = true): Promise<void> {
    this.sleepIsWakeable = wakeable;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}
