import type { Logger } from "pino";
import type { Clock } from "../core/clock.js";
import { CrwatchError, errorMessage } from "../model/errors.js";
import type { Dispatcher } from "../sinks/dispatcher.js";
import { SourceRuntime, type SourceRuntimeDeps } from "../sources/runtime.js";
import type { Source } from "../sources/source.js";
import type { CommitBatch, Fence, Lease, LeaseManager, Store } from "../store/store.js";

/** A source or sink this replica runs while it holds its lease. */
interface Holder {
  start(): void;
  /** Graceful: flush (sources) or drain (sinks); otherwise stop at once. */
  stop(graceful: boolean): Promise<void>;
  wake?(): void;
}

/**
 * Several `serve` processes on one shared store: each source and each sink is driven by the
 * replica holding its lease (`source:NAME`, `sink:NAME`). Every replica tries for every
 * lease each ttl/3; the holder renews, others take a lease once it lapses (the holder died
 * or stalled) and start from the stored cursors. A replica that fails to renew stops that
 * component at once, and its commits carry fencing tokens, so a stalled holder that wakes
 * up cannot write after another has taken over.
 */
export class Replica {
  private readonly held = new Map<string, Lease>();
  private readonly running = new Map<string, Holder>();
  private readonly builders = new Map<string, () => Holder>();
  private readonly stopping = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private firstRound: Promise<void> = Promise.resolve();

  private readonly settings: LeaseManager["settings"];

  constructor(
    private readonly leases: LeaseManager,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.settings = leases.settings;
  }

  /** Sources run one SourceRuntime each, so one can stop without the others. */
  addSources(sources: Source[], deps: SourceRuntimeDeps): void {
    for (const source of sources) {
      this.builders.set(`source:${source.name}`, () => {
        const runtime = new SourceRuntime([source], deps);
        return {
          start: () => runtime.start(),
          // A lost lease: its commits are fenced off anyway, so no grace for flushing.
          stop: (graceful) => runtime.stop(graceful ? undefined : 0),
        };
      });
    }
  }

  addSink(name: string, build: () => Dispatcher): void {
    this.builders.set(`sink:${name}`, () => {
      const dispatcher = build();
      return {
        start: () => dispatcher.start(),
        // Undelivered changes stay behind the stored cursor for the next holder.
        stop: (graceful) => dispatcher.stop({ drain: graceful }),
        wake: () => dispatcher.wake(),
      };
    });
  }

  start(): void {
    this.firstRound = this.round();
    this.loop = this.firstRound.then(() => this.renewLoop());
  }

  /** Resolves after the first round of lease requests (and the starts it led to). */
  ready(): Promise<void> {
    return this.firstRound;
  }

  wake(): void {
    for (const holder of this.running.values()) holder.wake?.();
  }

  /** The store a sink's dispatcher writes through: its cursor moves only under its lease. */
  fencedForSink(store: Store, sink: string): Store {
    const advanceConsumer: Store["advanceConsumer"] = (consumer, seq, letters, fences = []) =>
      store.advanceConsumer(consumer, seq, letters, [...fences, this.fenceOf(`sink:${sink}`)]);
    return new Proxy(store, {
      get: (target, key) =>
        key === "advanceConsumer" ? advanceConsumer : Reflect.get(target, key, target),
    });
  }

  /** The store that ingest commits through: each batch carries its sources' fences. */
  fenced(store: Store): Store {
    const commit = (batch: CommitBatch) =>
      store.commit({ ...batch, fences: [...(batch.fences ?? []), ...this.fencesFor(batch)] });
    return new Proxy(store, {
      get: (target, key) => (key === "commit" ? commit : Reflect.get(target, key, target)),
    });
  }

  /**
   * Stops what this replica drives, sources first (they flush under their leases), then
   * `between` (ingest commits what is pending), then sinks (they drain); then lets its
   * leases lapse so the other replicas take over at once.
   */
  async stop(between: () => Promise<void> = async () => undefined): Promise<void> {
    this.stopping.abort();
    await this.loop;
    const names = [...this.running.keys()];
    for (const name of names.filter((n) => n.startsWith("source:"))) await this.hand(name);
    await between();
    for (const name of names.filter((n) => !n.startsWith("source:"))) await this.hand(name);
  }

  /** A graceful stop: the lease is kept until the component has finished writing. */
  private async hand(name: string): Promise<void> {
    await this.running.get(name)?.stop(true);
    this.running.delete(name);
    const lease = this.held.get(name);
    this.held.delete(name);
    if (lease) await this.leases.release(lease).catch(() => undefined);
  }

  private fencesFor(batch: CommitBatch): Fence[] {
    const sources = new Set([
      ...batch.changes.map((c) => c.ref.source),
      ...batch.cursors.map((c) => c.source),
      ...batch.resolvedProblems.map((p) => p.source),
    ]);
    return [...sources].map((source) => this.fenceOf(`source:${source}`));
  }

  private fenceOf(name: string): Fence {
    const lease = this.held.get(name);
    if (!lease) {
      throw new CrwatchError(
        "CRW_STORE_CONFLICT",
        `replica ${this.settings.holder} does not hold the lease ${name}; it must stop writing`,
      );
    }
    return { lease: lease.name, token: lease.token };
  }

  private async renewLoop(): Promise<void> {
    const every = Math.max(1, Math.floor(this.settings.ttlMs / 3));
    const { signal } = this.stopping;
    while (!signal.aborted) {
      await this.clock.sleep(every, signal).catch(() => undefined);
      if (!signal.aborted) await this.round();
    }
  }

  private async round(): Promise<void> {
    for (const name of this.builders.keys()) {
      if (this.stopping.signal.aborted) return;
      let lease: Lease | undefined;
      try {
        lease = await this.leases.acquire(name, this.settings.holder, this.settings.ttlMs);
      } catch (err) {
        // Cannot tell whether it is still ours: stop before another replica may start.
        if (this.held.has(name)) await this.lose(name, `renewal failed: ${errorMessage(err)}`);
        continue;
      }
      const had = this.held.get(name);
      if (lease && had && lease.token !== had.token) await this.lose(name, "lease lapsed");
      if (lease) this.gain(name, lease);
      else if (had) await this.lose(name, "another replica holds it");
    }
  }

  private gain(name: string, lease: Lease): void {
    this.held.set(name, lease);
    if (this.running.has(name)) return;
    const holder = this.builders.get(name)?.();
    if (!holder) return;
    this.log.info({ lease: name, token: lease.token }, "lease taken: starting");
    this.running.set(name, holder);
    holder.start();
  }

  private async lose(name: string, why: string): Promise<void> {
    const lease = this.held.get(name);
    this.held.delete(name);
    const holder = this.running.get(name);
    this.running.delete(name);
    if (holder) {
      this.log.warn({ lease: name, why }, "lease lost: stopping");
      await holder.stop(false);
    }
    if (lease) await this.leases.release(lease).catch(() => undefined);
  }
}
