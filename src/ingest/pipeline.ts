import type { Logger } from "pino";
import type { CanonicalizeOptions } from "../core/canonicalize.js";
import type { Masker } from "../core/mask.js";
import type { Change } from "../model/change.js";
import { errorMessage } from "../model/errors.js";
import { DEFAULT_STREAM, type Observation, type ObservedObject } from "../model/observation.js";
import type { EvaluateRules } from "../model/rule.js";
import type { CommitBatch, Store } from "../store/store.js";
import {
  type BuildOptions,
  ChangeBuilder,
  type OpenSnapshot,
  PendingBatch,
} from "./build-changes.js";
import { InlineRunner, type UpsertRunner, WorkerRunner, type WorkerSpec } from "./build-pool.js";
import { DEFAULT_OBJECT_CACHE_BYTES, SourceState } from "./head-cache.js";

export interface IngestOptions {
  store: Store;
  masker: Masker;
  /**
   * The masker of the key before a rotation (decision 0028): a head whose object masked
   * this way is unchanged is re-masked with `masker`, silently.
   */
  previousMasker?: Masker;
  log: Logger;
  canonicalize?: CanonicalizeOptions;
  rules?: EvaluateRules;
  /**
   * Rules with memory across changes (a burst), run in commit order in this thread. With
   * `workers`, `rules` must hold only the rules that judge one change alone.
   */
  statefulRules?: EvaluateRules;
  /** Build workers for encode and diff (absent or size 0: this thread builds). */
  workers?: WorkerSpec;
  /**
   * Bytes of JSON text of the latest objects kept in memory for diffing (LRU); older ones
   * are read from the store. 0 turns the cache off. Default DEFAULT_OBJECT_CACHE_BYTES.
   */
  maxCachedObjectBytes?: number;
  /** Observations folded into one store transaction at most. */
  maxObservationsPerCommit?: number;
  /**
   * Bytes of observed objects (their JSON text, see `observationBytes`) folded into one
   * transaction at most; an observation larger than this commits alone. Two batches are in
   * flight at once (one builds while the other commits): this bounds what they hold.
   * Default DEFAULT_BATCH_BYTES.
   */
  maxBatchBytes?: number;
  /**
   * Bytes of observations accepted and not yet committed above which `room()` holds a
   * source back. Nothing is refused or dropped: `accept` always queues. Default
   * DEFAULT_QUEUED_BYTES.
   */
  maxQueuedBytes?: number;
}

/**
 * One transaction's input at most, in bytes of JSON text: 1 MiB is ~400 objects of 2.6 KiB,
 * enough to amortize a commit (decision 0037); 16 observations of 100 such objects held
 * 1,600 parsed objects, their patches and rows per batch, two batches at a time.
 */
export const DEFAULT_BATCH_BYTES = 1024 * 1024;
/** Queued input above which `room()` waits: enough for the next two batches (decision 0037). */
export const DEFAULT_QUEUED_BYTES = 3 * DEFAULT_BATCH_BYTES;
/**
 * What an object handed as a parsed object (not as text) counts for: its text is not known
 * without serializing it, and the sources that matter for size hand text (decision 0033).
 */
export const PARSED_OBJECT_BYTES = 4096;

/** What an observation weighs for batching and back-pressure: its objects' JSON text. */
export function observationBytes(observation: Observation): number {
  let bytes = 0;
  for (const event of observation.events) {
    if (event.type === "upsert") bytes += itemBytes(event.item);
    else if (event.type === "snapshot" || event.type === "snapshot-page") {
      for (const item of event.items) bytes += itemBytes(item);
    }
  }
  return bytes;
}

function itemBytes(item: ObservedObject): number {
  // `json` is read as a field: `object` may be a getter that would parse it.
  return item.json !== undefined ? item.json.length : PARSED_OBJECT_BYTES;
}

interface Pending {
  observation: Observation;
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A batch collected and handed to the build runner, waiting to be finalized and committed. */
interface Prepared {
  taken: Pending[];
  batch: CommitBatch;
  pending: PendingBatch;
  /** Paged snapshots the batch ends: forgotten once it commits. */
  ended: { source: string; id: string }[];
  /** The upserts' build (in workers or here). */
  ran: Promise<void>;
  collectMs: number;
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
  /** Bytes of the observations accepted and not yet committed or rejected. */
  private queuedBytes = 0;
  private readonly roomWaiters: (() => void)[] = [];

  private readonly counters: IngestStats = { commits: 0, changes: 0, buildMs: 0, commitMs: 0 };
  private readonly buildOptions: BuildOptions;
  private readonly runner: UpsertRunner;

  constructor(private readonly options: IngestOptions) {
    const kernel = {
      masker: options.masker,
      ...(options.previousMasker && { previousMasker: options.previousMasker }),
      canonicalize: options.canonicalize ?? {},
      rules: options.rules ?? (() => []),
    };
    const inline = new InlineRunner(kernel);
    this.runner =
      options.workers && options.workers.size > 0
        ? new WorkerRunner(options.workers, inline)
        : inline;
    this.buildOptions = {
      kernel,
      runner: this.runner,
      statefulRules: options.statefulRules ?? (() => []),
    };
  }

  /** Stops the build workers (idle ones never hold the process open; this frees them now). */
  async close(): Promise<void> {
    await this.idle();
    await this.runner.close();
  }

  /**
   * Resolves once the observation's changes are committed (or it held none). Always queues,
   * however much is queued already: a source that can wait asks `room()` first.
   */
  accept(observation: Observation): Promise<void> {
    const bytes = observationBytes(observation);
    this.queuedBytes += bytes;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ observation, bytes, resolve, reject });
      this.running ??= this.drainSoon();
    }).finally(() => this.release(bytes));
  }

  /**
   * Back-pressure by bytes: resolves at once while less than `maxQueuedBytes` of accepted
   * observations wait for their commit, otherwise once enough of them committed (or
   * failed). A source that awaits this before it reads more holds at most that much
   * in ingest however fast it reads; one that does not is never refused.
   */
  room(): Promise<void> {
    if (this.queuedBytes < this.maxQueuedBytes()) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Bytes accepted and not yet committed or rejected (for tests and metrics). */
  pendingBytes(): number {
    return this.queuedBytes;
  }

  private maxQueuedBytes(): number {
    return this.options.maxQueuedBytes ?? DEFAULT_QUEUED_BYTES;
  }

  private release(bytes: number): void {
    this.queuedBytes -= bytes;
    while (this.roomWaiters.length > 0 && this.queuedBytes < this.maxQueuedBytes()) {
      this.roomWaiters.shift()!();
    }
  }

  /**
   * Starts draining once this turn of the event loop is done, so observations handed on
   * together (a Git walk's run of commits, each reaching here a few promise steps after the
   * one before) share a transaction: started at once, the first one took a transaction of
   * its own, ~400 of the ~850 a 5,000-commit import took (decision 0035).
   */
  private async drainSoon(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.drain();
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Waits until everything accepted so far is committed. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Never throws: failures reject the observations they belong to. Two batches overlap: the
   * next one is collected (on the heads the current one leaves) and sent to the build
   * workers before the current one commits, so workers and commits run at the same time.
   */
  private async drain(): Promise<void> {
    let next: Prepared | null = null;
    for (;;) {
      let current = next;
      next = null;
      if (!current) {
        // In the same synchronous step as `running = null` below, so an accept() from here
        // on starts a new drain instead of queueing behind one that has finished.
        if (this.queue.length === 0) break;
        current = await this.prepareNext();
        if (!current) continue;
      }
      try {
        const started = performance.now();
        await current.ran;
        await current.pending.finalize();
        this.counters.buildMs += current.collectMs + performance.now() - started;
        next = this.queue.length > 0 ? await this.prepareNext() : null;
        const committed = await this.commitPrepared(current);
        for (const p of current.taken) p.resolve();
        if (committed.length > 0) this.notify(committed);
      } catch (err) {
        // The next batch was collected on heads this failure makes unreliable: it is
        // collected again (or rejected with its source, below).
        const redo: Prepared | null = next;
        next = null;
        this.fail(current.taken, err, redo?.taken ?? []);
      }
    }
    this.running = null;
  }

  /**
   * In-memory heads may now be ahead of the store (or behind it: CRW_STORE_CONFLICT, another
   * writer moved a head). Forget them; the retry rebuilds on fresh heads. What a failed
   * source queued behind these (in the queue, or in the next batch already collected) must
   * not commit before their retry does: it is rejected too. The rest of a collected next
   * batch goes back to the front of the queue.
   */
  private fail(taken: Pending[], err: unknown, collected: Pending[] = []): void {
    for (const p of [...taken, ...collected]) this.states.delete(p.observation.source);
    // The caller (the source runtime) reports it, once per episode.
    this.options.log.debug({ error: errorMessage(err) }, "ingest commit failed");
    const failed = new Set(taken.map((t) => t.observation.source));
    this.queue.unshift(...collected.filter((p) => !failed.has(p.observation.source)));
    const behind = [
      ...collected.filter((p) => failed.has(p.observation.source)),
      ...this.takeQueuedOf(failed),
    ];
    for (const p of [...taken, ...behind]) p.reject(err);
  }

  /** How many queued observations the next batch takes: by count and by bytes, at least one. */
  private batchLength(): number {
    const maxCount = Math.min(this.queue.length, this.options.maxObservationsPerCommit ?? 16);
    const maxBytes = this.options.maxBatchBytes ?? DEFAULT_BATCH_BYTES;
    let bytes = this.queue[0]?.bytes ?? 0;
    let n = 1;
    while (n < maxCount && bytes + this.queue[n]!.bytes <= maxBytes)
      bytes += this.queue[n++]!.bytes;
    return n;
  }

  private takeQueuedOf(sources: Set<string>): Pending[] {
    const taken = this.queue.filter((p) => sources.has(p.observation.source));
    if (taken.length > 0) {
      const rest = this.queue.filter((p) => !sources.has(p.observation.source));
      this.queue.splice(0, this.queue.length, ...rest);
    }
    return taken;
  }

  /** Takes the next observations off the queue and starts building them (null: it failed). */
  private async prepareNext(): Promise<Prepared | null> {
    const taken = this.queue.splice(0, this.batchLength());
    try {
      return await this.prepare(taken);
    } catch (err) {
      this.fail(taken, err);
      return null;
    }
  }

  /** Collects the observations' events in order and hands the upserts to the runner. */
  private async prepare(taken: Pending[]): Promise<Prepared> {
    const started = performance.now();
    const batch: CommitBatch = { changes: [], cursors: [], resolvedProblems: [] };
    const ended: { source: string; id: string }[] = [];
    const pending = new PendingBatch(batch, this.buildOptions);
    for (const { observation } of taken) {
      const state = await this.stateOf(observation.source);
      const builder = new ChangeBuilder(
        pending,
        observation.source,
        state,
        observation.observedAt,
        { actor: observation.actor ?? null, cause: observation.cause ?? null },
        this.snapshotsOf(observation.source),
      );
      for (const event of observation.events) builder.apply(event);
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
    const ran = pending.run();
    // Awaited by drain(); until then a failure must not count as unhandled.
    ran.catch(() => {});
    return { taken, batch, pending, ended, ran, collectMs: performance.now() - started };
  }

  private async commitPrepared(prepared: Prepared): Promise<Change[]> {
    const { batch, ended } = prepared;
    const forgetEnded = () => {
      for (const { source, id } of ended) this.snapshots.get(source)?.delete(id);
    };
    if (
      batch.changes.length === 0 &&
      batch.cursors.length === 0 &&
      batch.resolvedProblems.length === 0 &&
      (batch.remasks ?? []).length === 0
    ) {
      forgetEnded();
      return [];
    }
    const started = performance.now();
    const committed = await this.options.store.commit(batch);
    forgetEnded();
    this.counters.commitMs += performance.now() - started;
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
