import type { Logger } from "pino";
import { backoffDelay, type Clock, systemClock } from "../core/clock.js";
import type { Change } from "../model/change.js";
import { CrwatchError, errorMessage } from "../model/errors.js";
import { refKey } from "../model/ref.js";
import type { ChangeLog, ConsumerLedger, NewDeadLetter } from "../store/store.js";
import { DEFAULT_SINK_POLICY, type SinkPolicy, skipReason } from "./policy.js";
import { RateLimiter } from "./rate-limit.js";
import type { DeliveryOutcome, Sink } from "./sink.js";

export interface DispatchTarget {
  sink: Sink;
  /** This sink's policy; unset fields take the defaults. */
  policy?: Partial<SinkPolicy>;
}

export interface DispatcherOptions {
  store: ChangeLog & ConsumerLedger;
  targets: DispatchTarget[];
  log: Logger;
  clock?: Clock;
  /** Fallback poll for commits made by another process; in-process commits call wake(). */
  pollIntervalMs?: number;
  /** Jitter for backoff (tests pass a seeded one). */
  random?: () => number;
  /** Called after each successful delivery (latency measurement, metrics). */
  onDelivered?: (sink: string, changes: Change[]) => void;
}

/** The consumer name under which a sink's cursor and dead letters are kept. */
export function consumerOf(sinkName: string): string {
  return `sink:${sinkName}`;
}

/**
 * Feeds every sink after the sink's own stored cursor: at least once, in seq order per ref,
 * surviving restarts. A sink that is caught up gets the changes just committed, handed over
 * by `offer` (no read, no parse); a sink that is behind, or that missed an offer, reads the
 * log from its cursor, so a sink that was down catches up from the log.
 */
export class Dispatcher {
  private readonly loops: SinkLoop[];

  constructor(options: DispatcherOptions) {
    this.loops = options.targets.map((target) => new SinkLoop(options, target));
  }

  start(): void {
    for (const loop of this.loops) loop.start();
  }

  /** New changes were committed: look now instead of at the next poll. */
  wake(): void {
    for (const loop of this.loops) loop.wake();
  }

  /** Sinks whose loop has not finished stopping (a shutdown waiting on them). */
  unfinished(): string[] {
    return this.loops.filter((loop) => !loop.finished).map((loop) => loop.name);
  }

  /**
   * These changes were just committed, in seq order: a sink that is caught up delivers
   * them from memory. Wakes every sink, as `wake` does.
   */
  offer(changes: readonly Change[]): void {
    for (const loop of this.loops) loop.offer(changes);
  }

  /** Delivers everything committed so far (with retries), then stops the loops. */
  async stop(options: { drain: boolean } = { drain: true }): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.stop(options.drain)));
  }
}

/** One change on its way to a sink. */
interface Pending {
  change: Change;
  key: string;
  attempts: number;
  notBefore: number;
  lastError: string;
}

class SinkLoop {
  private stopping = false;
  private draining = false;
  private disabledReported = false;
  private wakeUp: AbortController | null = null;
  private done: Promise<void> | null = null;
  private readonly consumer: string;
  private readonly policy: SinkPolicy;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  private readonly log: Logger;
  /** Aborted when stopping without drain: cuts a hanging `deliver` short. */
  private readonly hardStop = new AbortController();
  private healthStatus: "ok" | "degraded" | undefined;
  /** Aborted on any stop: ends a backoff wait. */
  private readonly stopSignal = new AbortController();
  /** Changes offered from commits, in seq order, not yet taken by the loop. */
  private offered: Change[] = [];

  constructor(
    private readonly options: DispatcherOptions,
    private readonly target: DispatchTarget,
  ) {
    this.consumer = consumerOf(target.sink.name);
    this.policy = { ...DEFAULT_SINK_POLICY, ...target.policy };
    this.clock = options.clock ?? systemClock;
    this.limiter = new RateLimiter(this.policy.ratePerSecond, this.clock);
    this.log = options.log.child({ sink: target.sink.name });
  }

  start(): void {
    this.done = this.run().catch((err) => {
      this.log.error({ err }, "sink loop stopped on an unexpected error");
    });
  }

  wake(): void {
    this.wakeUp?.abort();
  }

  get name(): string {
    return this.target.sink.name;
  }

  /** True once stopped and closed (or never started). */
  finished = false;

  offer(changes: readonly Change[]): void {
    // Bounded: a sink this far behind reads the log instead (the offers start after a gap).
    if (this.offered.length + changes.length > OFFERS_HELD * this.policy.batchSize)
      this.offered = [];
    for (const change of changes) this.offered.push(change);
    this.wake();
  }

  /**
   * The offered changes that follow the cursor without a gap (up to a batch), or undefined
   * when they do not start right after it: then the log is read.
   */
  private takeOffered(cursor: number): Change[] | undefined {
    let start = 0;
    while (start < this.offered.length && this.offered[start]!.seq <= cursor) start++;
    if (start === this.offered.length || this.offered[start]!.seq !== cursor + 1) {
      this.offered = [];
      return undefined;
    }
    let end = start + 1;
    const limit = Math.min(this.offered.length, start + this.policy.batchSize);
    while (end < limit && this.offered[end]!.seq === this.offered[end - 1]!.seq + 1) end++;
    const batch = this.offered.slice(start, end);
    this.offered = this.offered.slice(end);
    return batch;
  }

  async stop(drain: boolean): Promise<void> {
    this.draining = drain;
    this.stopping = true;
    if (!drain) this.hardStop.abort();
    this.stopSignal.abort();
    this.wakeUp?.abort();
    await this.done;
    await this.target.sink.close();
    this.finished = true;
  }

  private async run(): Promise<void> {
    const { store } = this.options;
    let cursor = await store.getConsumerCursor(this.consumer);
    for (;;) {
      await this.retryDeadLetters();
      const offered = this.takeOffered(cursor);
      const batch =
        offered ?? (await store.readChanges({ afterSeq: cursor, limit: this.policy.batchSize }));
      if (batch.length === 0) {
        if (this.stopping) return;
        await this.idle(this.options.pollIntervalMs ?? 1000);
        continue;
      }
      if (this.stopping && !this.draining) return;
      const letters = await this.deliverBatch(batch);
      // Stopping mid-retry leaves the cursor where it is: the batch is redelivered on restart.
      if (letters === null) return;
      cursor = batch[batch.length - 1]!.seq;
      await store.advanceConsumer(this.consumer, cursor, letters);
      // Caught up as of the last commit offered: wait for the next offer (or the poll)
      // instead of reading the log to learn it has nothing new.
      if (offered && this.offered.length === 0 && !this.stopping) {
        await this.idle(this.options.pollIntervalMs ?? 1000);
      }
    }
  }

  /**
   * Delivers the wanted changes of one batch; returns the dead letters to record with the
   * cursor move, or null when a stop interrupted retries. Changes of one ref go out in seq
   * order: a later one waits while an earlier one is being retried; other refs go on.
   */
  private async deliverBatch(batch: Change[]): Promise<NewDeadLetter[] | null> {
    let pending = this.wanted(batch);
    const letters: NewDeadLetter[] = [];
    while (pending.length > 0) {
      const now = this.clock.now();
      const heads = headsOf(pending);
      const eligible = heads.filter((p) => p.notBefore <= now);
      if (eligible.length === 0) {
        if (this.stopping) return null;
        const wait = Math.min(...heads.map((p) => p.notBefore)) - now;
        await this.clock.sleep(wait, this.stopSignal.signal);
        continue;
      }
      await this.limiter.take(eligible.length, this.hardStop.signal);
      const outcomes = await this.call(eligible.map((p) => p.change));
      const settled = this.settle(eligible, outcomes, letters);
      pending = pending.filter((p) => !settled.has(p));
      if (this.stopping && pending.some((p) => p.attempts > 0)) return null;
    }
    // Settled in whatever order retries ended; recorded in log order.
    return letters.sort((a, b) => a.seq - b.seq);
  }

  private wanted(batch: Change[]): Pending[] {
    const wanted: Pending[] = [];
    for (const change of batch) {
      const reason = skipReason(change, this.policy.filter);
      if (reason) {
        this.log.trace({ seq: change.seq, reason }, "skipped");
        continue;
      }
      wanted.push({ change, key: refKey(change.ref), attempts: 0, notBefore: 0, lastError: "" });
    }
    return wanted;
  }

  /** Applies outcomes; returns the entries that are done (delivered or dead-lettered). */
  private settle(
    entries: Pending[],
    outcomes: DeliveryOutcome[],
    letters: NewDeadLetter[],
  ): Set<Pending> {
    const settled = new Set<Pending>();
    const delivered: Change[] = [];
    entries.forEach((entry, i) => {
      const outcome = outcomes[i]!;
      entry.attempts += 1;
      if (outcome.status === "delivered") {
        delivered.push(entry.change);
        settled.add(entry);
        return;
      }
      entry.lastError = outcome.error;
      const final = outcome.status === "rejected" || entry.attempts >= this.policy.maxAttempts;
      this.log.warn(
        { seq: entry.change.seq, attempt: entry.attempts, error: outcome.error },
        final ? "delivery failed; dead-lettering the change" : "delivery failed; will retry",
      );
      if (final) {
        letters.push(this.letterOf(entry));
        settled.add(entry);
        return;
      }
      const backoff = this.clock.now() + backoffDelay(entry.attempts, this.policy, this.random());
      entry.notBefore = Math.max(
        backoff,
        outcome.status === "retry" ? (outcome.notBefore ?? 0) : 0,
      );
    });
    if (delivered.length > 0) this.options.onDelivered?.(this.target.sink.name, delivered);
    this.reportDisabled();
    this.recordHealth(entries, outcomes);
    return settled;
  }

  /**
   * Keeps the sink's health in the store for `status` and the API: degraded while deliveries
   * fail (with the latest error), ok again once a round goes through. Written on changes of
   * state only, not per batch.
   */
  private recordHealth(entries: Pending[], outcomes: DeliveryOutcome[]): void {
    const failed = outcomes.findIndex((o) => o.status !== "delivered");
    const disabled = this.target.sink.health?.();
    let message = "delivering";
    if (disabled?.disabled) message = `destination disabled: ${disabled.lastError ?? "gone"}`;
    else if (failed !== -1) {
      const entry = entries[failed]!;
      message = `delivery failing (seq ${entry.change.seq}, attempt ${entry.attempts}): ${entry.lastError}`;
    }
    const status = message === "delivering" ? "ok" : "degraded";
    if (status === this.healthStatus && status === "ok") return;
    if (status === "degraded" && this.healthStatus === "degraded" && failed !== -1) {
      // Still failing: refresh the message at most on the first attempt of each change.
      if (entries[failed]!.attempts > 1) return;
    }
    this.healthStatus = status;
    this.options.store
      .setSinkHealth({
        sink: this.target.sink.name,
        status,
        message,
        updatedAt: new Date(this.clock.now()).toISOString(),
      })
      .catch((err) => this.log.warn({ err }, "could not record sink health"));
  }

  /** Says once, loudly, that the sink's destination is gone (a webhook's 410). */
  private reportDisabled(): void {
    const health = this.target.sink.health?.();
    if (!health?.disabled || this.disabledReported) return;
    this.disabledReported = true;
    this.log.error(
      { error: health.lastError },
      "the sink's destination is disabled: its changes are dead-lettered until crwatch restarts",
    );
  }

  private random(): () => number {
    return this.options.random ?? Math.random;
  }

  private letterOf(entry: Pending): NewDeadLetter {
    return {
      consumer: this.consumer,
      seq: entry.change.seq,
      error: entry.lastError,
      attempts: entry.attempts,
    };
  }

  /**
   * One call to the sink, with a timeout. A throw, a timeout or a wrong number of outcomes
   * means "retry all"; a sink that ignores its signal is not waited for past the timeout.
   */
  private async call(changes: Change[]): Promise<DeliveryOutcome[]> {
    const timeout = new AbortController();
    const timer = this.clock.setTimeout(
      () =>
        timeout.abort(
          new CrwatchError("CRW_SINK_TIMEOUT", `no answer within ${this.policy.timeoutMs} ms`),
        ),
      this.policy.timeoutMs,
    );
    const signal = AbortSignal.any([timeout.signal, this.hardStop.signal]);
    try {
      const outcomes = await Promise.race([
        this.target.sink.deliver(changes, signal),
        abortion(signal),
      ]);
      if (outcomes.length !== changes.length) {
        throw new CrwatchError(
          "CRW_SINK_DELIVERY",
          `the sink returned ${outcomes.length} outcomes for ${changes.length} changes`,
        );
      }
      return outcomes;
    } catch (err) {
      const error = errorMessage(err);
      return changes.map(() => ({ status: "retry", error }));
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  /** Delivers the dead letters an operator asked to retry (`crwatch dead-letters retry`). */
  private async retryDeadLetters(): Promise<void> {
    const { store } = this.options;
    const letters = await store.listDeadLetters({ consumer: this.consumer, state: "retry" });
    for (const letter of letters) {
      if (this.stopping && !this.draining) return;
      const change = await store.getChange(letter.seq);
      if (!change) {
        await store.failDeadLetter(
          letter.id,
          "the change is no longer in the log",
          letter.attempts,
        );
        continue;
      }
      const [outcome] = await this.call([change]);
      if (outcome?.status === "delivered") {
        await store.removeDeadLetters({ ids: [letter.id] });
        this.options.onDelivered?.(this.target.sink.name, [change]);
        this.log.info({ seq: change.seq }, "dead letter delivered on retry");
      } else {
        const error = outcome ? outcome.error : "no outcome";
        await store.failDeadLetter(letter.id, error, letter.attempts + 1);
      }
    }
  }

  /** Waits for the poll interval, a wake() or a stop, whichever comes first. */
  private async idle(ms: number): Promise<void> {
    this.wakeUp = new AbortController();
    if (this.stopping) return;
    await this.clock.sleep(ms, this.wakeUp.signal);
    this.wakeUp = null;
  }
}

/**
 * Offered changes a sink holds at most, in batches: each carries its object, so a sink
 * further behind than this reads the log instead of holding memory.
 */
const OFFERS_HELD = 2;

/** The first pending change of each ref: a later one waits for it. */
function headsOf(pending: Pending[]): Pending[] {
  const seen = new Set<string>();
  const heads: Pending[] = [];
  for (const entry of pending) {
    if (seen.has(entry.key)) continue;
    seen.add(entry.key);
    heads.push(entry);
  }
  return heads;
}

function abortion(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(signal.reason ?? new Error("aborted"));
    if (signal.aborted) return fail();
    signal.addEventListener("abort", fail, { once: true });
  });
}
