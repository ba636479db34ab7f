import type { Logger } from "pino";
import { backoffDelay, type Clock } from "../core/clock.js";
import { CrwatchError, errorMessage } from "../model/errors.js";
import type { Observation } from "../model/observation.js";
import type { Emitted, Source, SourceContext } from "./source.js";

/** A source's state as the runtime reports it (the composition root stores it). */
export interface RuntimeHealth {
  source: string;
  status: "starting" | "ok" | "degraded" | "failed" | "stopped";
  message: string;
  /** Failed runs since the source last became ready. */
  attempts: number;
  updatedAt: string;
}

export interface BackoffPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
}

/** What the runtime needs from outside: given by the composition root, faked by tests. */
export interface SourceRuntimeDeps {
  /** Commits an observation (ingest); rejects when the commit failed. */
  commit(observation: Observation): Promise<void>;
  /** The stored positions of a source's streams, read at every (re)start. */
  loadCursors(source: string): Promise<Record<string, string>>;
  onHealth(health: RuntimeHealth): void;
  log: Logger;
  clock: Clock;
  /** Backoff between restarts of a failed source. */
  restart?: BackoffPolicy;
  /** Backoff between attempts to commit one observation. */
  emitRetry?: BackoffPolicy;
  /** Jitter source (tests pass a seeded one). */
  random?: () => number;
}

const DEFAULT_RESTART: BackoffPolicy = { initialDelayMs: 1000, maxDelayMs: 60_000 };
const DEFAULT_EMIT_RETRY: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 30_000 };

/**
 * Runs every source under one supervisor: all start at once (a slow API server holds back
 * no one), a source that throws is restarted with exponential backoff and jitter, forever,
 * and every attempt shows in its health. Committing an observation is retried here too, so
 * no source writes its own retry loop.
 */
export class SourceRuntime {
  private readonly supervisors: Supervisor[];
  private readonly clock: Clock;

  constructor(sources: Source[], deps: SourceRuntimeDeps) {
    this.clock = deps.clock;
    this.supervisors = sources.map((source) => new Supervisor(source, deps));
  }

  start(): void {
    for (const supervisor of this.supervisors) supervisor.start();
  }

  /** Resolves once every source has emitted its initial view (or failed at least once). */
  async ready(): Promise<void> {
    await Promise.all(this.supervisors.map((s) => s.settled));
  }

  /** Emits what sources hold in a debounce now. */
  async flush(): Promise<void> {
    await Promise.all(this.supervisors.map((s) => s.flush()));
  }

  /**
   * Flushes, then stops every source and waits for them to return. A flush whose commit
   * keeps failing is cut short after `graceMs`: its events are not lost, the next start's
   * full view reconciles them.
   */
  async stop(graceMs = 10_000): Promise<void> {
    const timeout = new AbortController();
    await Promise.race([this.flush(), this.clock.sleep(graceMs, timeout.signal)]);
    timeout.abort();
    await Promise.all(this.supervisors.map((s) => s.stop()));
  }
}

class Supervisor {
  private readonly controller = new AbortController();
  private readonly restart: BackoffPolicy;
  private readonly emitRetry: BackoffPolicy;
  private readonly random: () => number;
  private readonly log: Logger;
  private attempts = 0;
  /**
   * Emits of this source whose commit failed and is being retried, by emit number. A later
   * emit neither starts nor retries before they are through, so a source may keep several
   * observations in flight (the git source does) and they still commit in emit order.
   */
  private readonly retrying = new Map<number, Promise<void>>();
  private emits = 0;
  private done: Promise<void> = Promise.resolve();
  private markSettled: () => void = () => undefined;
  /** Resolves when the source first became ready, or first failed. */
  readonly settled: Promise<void>;

  constructor(
    private readonly source: Source,
    private readonly deps: SourceRuntimeDeps,
  ) {
    this.restart = deps.restart ?? DEFAULT_RESTART;
    this.emitRetry = deps.emitRetry ?? DEFAULT_EMIT_RETRY;
    this.random = deps.random ?? Math.random;
    this.log = deps.log.child({ source: source.name });
    this.settled = new Promise((resolve) => {
      this.markSettled = resolve;
    });
  }

  start(): void {
    this.done = this.supervise();
  }

  async flush(): Promise<void> {
    await this.source.flush?.().catch((err) => this.log.error({ err }, "flush failed"));
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.done;
    this.health("stopped", "crwatch stopped");
  }

  private async supervise(): Promise<void> {
    const { signal } = this.controller;
    while (!signal.aborted) {
      this.health(this.attempts === 0 ? "starting" : "degraded", this.startMessage());
      try {
        const cursors = await this.deps.loadCursors(this.source.name);
        await this.source.run(this.context(cursors, signal), signal);
        if (signal.aborted) return;
        throw new CrwatchError("CRW_SOURCE_FAILED", "the source returned while it should run");
      } catch (err) {
        if (signal.aborted) return;
        await this.failed(err, signal);
      }
    }
  }

  private startMessage(): string {
    return this.attempts === 0 ? "starting" : `restarting (attempt ${this.attempts + 1})`;
  }

  private async failed(err: unknown, signal: AbortSignal): Promise<void> {
    this.attempts += 1;
    const delay = backoffDelay(this.attempts, this.restart, this.random);
    const message = `attempt ${this.attempts} failed: ${errorMessage(err)}; restarting in ${delay} ms`;
    this.log.error({ err, attempt: this.attempts, retryInMs: delay }, "source failed");
    this.health("failed", message);
    this.markSettled();
    await this.deps.clock.sleep(delay, signal);
  }

  private context(cursors: Record<string, string>, signal: AbortSignal): SourceContext {
    return {
      name: this.source.name,
      cursors,
      log: this.log,
      clock: this.deps.clock,
      emit: (observation) => this.emit(observation, signal),
      health: (status, message) => this.health(status, message),
      ready: () => {
        this.attempts = 0;
        this.health("ok", "watching");
        this.markSettled();
      },
    };
  }

  /**
   * Commits with retry until it goes through. A stop does not cut a retry short while the
   * source is still flushing (the signal aborts only after the flush), so pending events are
   * not lost on a graceful stop; after the abort, a failing commit gives up with the error.
   *
   * Order: ingest rejects, with a failed transaction, the observations of its sources still
   * queued behind it; so an emit that fails holds back every later one of this source (they
   * fail too, or wait before their first attempt) until it is through.
   */
  private async emit(emitted: Emitted, signal: AbortSignal): Promise<void> {
    const observation: Observation = {
      ...emitted,
      source: this.source.name,
      observedAt: emitted.observedAt ?? new Date(this.deps.clock.now()).toISOString(),
    };
    const seq = ++this.emits;
    let through: () => void = () => undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        await this.behindEarlierFailures(seq);
        try {
          await this.deps.commit(observation);
          if (attempt > 1) {
            this.log.info({ attempts: attempt }, "commits go through again");
            this.health("ok", "watching (commits go through again)");
          }
          return;
        } catch (err) {
          if (signal.aborted) throw err;
          const firstOfEpisode = this.retrying.size === 0;
          if (!this.retrying.has(seq)) {
            this.retrying.set(seq, new Promise((resolve) => (through = resolve)));
          }
          const delay = backoffDelay(attempt, this.emitRetry, this.random);
          this.logCommitFailure(err, attempt, delay, firstOfEpisode);
          this.health("degraded", `commit failed (attempt ${attempt}): ${errorMessage(err)}`);
          await this.deps.clock.sleep(delay, signal);
          if (signal.aborted) throw err;
        }
      }
    } finally {
      this.retrying.delete(seq);
      through();
    }
  }

  /** Waits until every failed emit older than emit `seq` is through. */
  private async behindEarlierFailures(seq: number): Promise<void> {
    for (;;) {
      const older = [...this.retrying].filter(([n]) => n < seq).map(([, p]) => p);
      if (older.length === 0) return;
      await Promise.all(older);
    }
  }

  /**
   * Once per episode with the error in full (a full disk fails every retry the same way);
   * later attempts at debug level, without the stack.
   */
  private logCommitFailure(
    err: unknown,
    attempt: number,
    retryInMs: number,
    firstOfEpisode: boolean,
  ): void {
    if (attempt === 1 && firstOfEpisode) {
      this.log.error({ err, retryInMs }, "commit failed; retrying until it goes through");
    } else {
      this.log.debug({ error: errorMessage(err), attempt, retryInMs }, "commit failed again");
    }
  }

  private health(status: RuntimeHealth["status"], message: string): void {
    this.deps.onHealth({
      source: this.source.name,
      status,
      message,
      attempts: this.attempts,
      updatedAt: new Date(this.deps.clock.now()).toISOString(),
    });
  }
}
