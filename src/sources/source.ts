import type { Logger } from "pino";
import type { Clock } from "../core/clock.js";
import type { Observation } from "../model/observation.js";

/** An observation as a source writes it: the runtime fills in the source's name. */
export type Emitted = Omit<Observation, "source" | "observedAt"> & { observedAt?: string };

/**
 * What the runtime hands a running source. Sources see nothing of ingest or the store: they
 * observe, emit, and say how they are.
 */
export interface SourceContext {
  readonly name: string;
  /**
   * Hands an observation on and resolves once it is committed (back-pressure for free). The
   * runtime retries a failed commit with backoff until it goes through; it rejects only when
   * the source is being stopped for good (the run's signal aborted).
   */
  emit(observation: Emitted): Promise<void>;
  /** The source's own word on how it is: "ok", or degraded with the reason. */
  health(status: "ok" | "degraded", message: string): void;
  /**
   * The initial full view has been emitted. `serve` does not wait for it; tests, `diff` and
   * the benchmark may (`SourceRuntime.ready`). Calling it also resets the restart backoff.
   */
  ready(): void;
  /** Positions committed with this source's last observations, per stream, at (re)start. */
  readonly cursors: Readonly<Record<string, string>>;
  readonly log: Logger;
  readonly clock: Clock;
}

/**
 * A long-running watcher of one system: a function of `(ctx, signal)`. It runs until the
 * signal aborts (then it emits what it holds pending, releases what it watches and
 * returns); if it throws, the runtime restarts it with backoff, forever.
 */
export interface Source {
  readonly name: string;
  readonly type: string;
  run(ctx: SourceContext, signal: AbortSignal): Promise<void>;
  /** Emits whatever waits in a debounce now (called before a graceful stop, and by tests). */
  flush?(): Promise<void>;
}
