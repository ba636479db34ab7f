import type { Logger } from "pino";
import type { CanonicalizeOptions } from "../core/canonicalize.js";
import type { Masker } from "../core/mask.js";
import type { Change } from "../model/change.js";
import { errorMessage } from "../model/errors.js";
import { DEFAULT_STREAM, type Observation } from "../model/observation.js";
import type { EvaluateRules } from "../model/rule.js";
import type { CommitBatch, Store } from "../store/store.js";
import { type BuildOptions, ChangeBuilder, type OpenSnapshot } from "./build-changes.js";
import { DEFAULT_OBJECT_CACHE_BYTES, SourceState } from "./head-cache.js";

export interface IngestOptions {
  store: Store;
  masker: Masker;
  log: Logger;
  canonicalize?: CanonicalizeOptions;
  rules?: EvaluateRules;
  /**
   * Bytes of JSON text of the latest objects kept in memory for diffing (LRU); older ones
   * are read from the store. 0 turns the cache off. Default DEFAULT_OBJECT_CACHE_BYTES.
   */
  maxCachedObjectBytes?: number;
  /** Observations folded into one store transaction at most. */
  maxObservationsPerCommit?: number;
}

interface Pending {
  observation: Observation;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface IngestStats {
  commits: number;
  changes: number;
  /** Time spent turning observations into changes (canonicalize, mask, diff, summary, rules). */
  buildMs: number;
  /** Time spent in the store's commit (encoding, hash chain, writes). */
  commitMs: number;
}

type CommitListener = (changes: Change[]) => void;

/**
 * Observation → change, then commit. One worker drains a queue, so every ref's changes
 * are ordered; observations that arrive while a commit runs are folded into the next
 * transaction (batching for free under load, one commit per observation when idle).
 */
export class Ingest {
  private readonly queue: Pending[] = [];
  private readonly states = new Map<string, SourceState>();
  /** Paged snapshots per source; kept apart from `states`, which a failed commit discards. */
  private readonly snapshots = new Map<string, Map<string, OpenSnapshot>>();
  private readonly listeners: CommitListener[] = [];
  private running: Promise<void> | null = null;

  private readonly counters: IngestStats = { commits: 0, changes: 0, buildMs: 0, commitMs: 0 };
  private readonly buildOptions: BuildOptions;

  constructor(private readonly options: IngestOptions) {
    this.buildOptions = {
      masker: options.masker,
      canonicalize: options.canonicalize ?? {},
      rules: options.rules ?? (() => []),
    };
  }

  /** Resolves once the observation's changes are committed (or it held none). */
  accept(observation: Observation): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ observation, resolve, reject });
      this.running ??= this.drain();
    });
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Waits until everything accepted so far is committed. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Never throws: failures reject the observations they belong to. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const taken = this.queue.splice(0, this.options.maxObservationsPerCommit ?? 16);
      try {
        const committed = await this.commit(taken.map((p) => p.observation));
        for (const p of taken) p.resolve();
        if (committed.length > 0) this.notify(committed);
      } catch (err) {
        // In-memory heads may now be ahead of the store (or behind it: CRW_STORE_CONFLICT,
        // another writer moved a head). Forget them; the retry rebuilds on fresh heads.
        for (const p of taken) this.states.delete(p.observation.source);
        // The caller (the source runtime) reports it, once per episode.
        this.options.log.debug({ error: errorMessage(err) }, "ingest commit failed");
        for (const p of taken) p.reject(err);
        // What a failed source queued behind these must not commit before their retry does.
        for (const p of this.takeQueuedOf(new Set(taken.map((t) => t.observation.source)))) {
          p.reject(err);
        }
      }
    }
    // In the same synchronous step as the last queue check, so an accept() from here on
    // starts a new drain instead of queueing behind one that has finished.
    this.running = null;
  }

  private takeQueuedOf(sources: Set<string>): Pending[] {
    const taken = this.queue.filter((p) => sources.has(p.observation.source));
    if (taken.length > 0) {
      const rest = this.queue.filter((p) => !sources.has(p.observation.source));
      this.queue.splice(0, this.queue.length, ...rest);
    }
    return taken;
  }

  private async commit(observations: Observation[]): Promise<Change[]> {
    const started = performance.now();
    const batch: CommitBatch = { changes: [], cursors: [], resolvedProblems: [] };
    const ended: { source: string; id: string }[] = [];
    for (const observation of observations) {
      const state = await this.stateOf(observation.source);
      const builder = new ChangeBuilder(
        batch,
        this.buildOptions,
        observation.source,
        state,
        observation.observedAt,
        { actor: observation.actor ?? null, cause: observation.cause ?? null },
        this.snapshotsOf(observation.source),
      );
      for (const event of observation.events) await builder.apply(event);
      builder.finish();
      for (const id of builder.endedSnapshots) ended.push({ source: observation.source, id });
      for (const [stream, cursor] of Object.entries(observation.cursors ?? {})) {
        batch.cursors.push({
          source: observation.source,
          stream: stream || DEFAULT_STREAM,
          cursor,
        });
      }
    }
    const forgetEnded = () => {
      for (const { source, id } of ended) this.snapshots.get(source)?.delete(id);
    };
    if (
      batch.changes.length === 0 &&
      batch.cursors.length === 0 &&
      batch.resolvedProblems.length === 0
    ) {
      forgetEnded();
      return [];
    }
    const built = performance.now();
    const committed = await this.options.store.commit(batch);
    forgetEnded();
    this.counters.buildMs += built - started;
    this.counters.commitMs += performance.now() - built;
    this.counters.commits++;
    this.counters.changes += committed.length;
    return committed;
  }

  /** Where ingest's time went so far (for metrics and the benchmark). */
  stats(): IngestStats {
    return { ...this.counters };
  }

  private snapshotsOf(source: string): Map<string, OpenSnapshot> {
    let open = this.snapshots.get(source);
    if (!open) {
      open = new Map();
      this.snapshots.set(source, open);
    }
    return open;
  }

  private async stateOf(source: string): Promise<SourceState> {
    let state = this.states.get(source);
    if (!state) {
      state = await SourceState.load(
        this.options.store,
        source,
        this.options.maxCachedObjectBytes ?? DEFAULT_OBJECT_CACHE_BYTES,
      );
      this.states.set(source, state);
    }
    return state;
  }

  private notify(changes: Change[]): void {
    for (const listener of this.listeners) {
      try {
        listener(changes);
      } catch (err) {
        this.options.log.error({ err }, "commit listener failed");
      }
    }
  }
}
