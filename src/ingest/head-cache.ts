import type { JsonObject } from "../model/json.js";
import { type Ref, refKey } from "../model/ref.js";
import type { OpenProblem, Store } from "../store/store.js";
import { HeadTable } from "./head-table.js";

/**
 * Default budget of the object cache: 64 MiB of JSON text (decisions 0023, 0025). Since
 * the slim log a miss rebuilds the object from a snapshot and patches (~95 µs); at 16 MiB
 * the 10k-resource benchmark missed on every change (3,144 changes/s) and at 64 MiB it
 * never does (4,142/s), with the same peak RSS. Only refs changed since they were added
 * enter it (decision 0037), so a sync or first start of many objects does not fill it.
 */
export const DEFAULT_OBJECT_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Ingest's memory of one source: every head (a content hash, no object), the open
 * problems, and the latest objects of recently changed refs as their JSON text, in an LRU
 * bounded in bytes (0 turns it off; a miss reads the store). An object enters the cache
 * only once its ref changed after it was added (its head's revision is past 1): most
 * objects a sync or a first start adds are never changed while crwatch runs, and 100k of
 * them would fill the budget and push out the refs that do change (decision 0037). Text, not parsed objects: a
 * 3 KiB object costs 3 KiB as text and about 7.5 KiB parsed, and a hit's JSON.parse is
 * cheaper than the store's read and parse. Heads are loaded once per source so deciding
 * "is this a change?" costs no I/O.
 */
export class SourceState {
  readonly heads = new HeadTable();
  readonly problems = new Map<string, OpenProblem>();
  private readonly objects = new Map<string, string>();
  private bytes = 0;

  constructor(
    private readonly store: Store,
    private readonly maxCachedBytes: number,
  ) {}

  static async load(store: Store, source: string, maxCachedBytes: number): Promise<SourceState> {
    const state = new SourceState(store, maxCachedBytes);
    for (const head of await store.loadHeads(source)) state.heads.set(refKey(head.ref), head);
    for (const problem of await store.openProblems(source))
      state.problems.set(problem.location, problem);
    return state;
  }

  /**
   * `json` is the object's JSON text as stored (null: the ref was deleted); call after the
   * ref's head moved to it. A ref at its first revision is not cached (see the class).
   */
  rememberObject(key: string, json: string | null): void {
    const old = this.objects.get(key);
    if (old !== undefined) {
      this.objects.delete(key);
      this.bytes -= old.length;
    }
    if (json === null || json.length > this.maxCachedBytes) return;
    if (this.heads.get(key)?.revision === 1) return;
    this.objects.set(key, json);
    this.bytes += json.length;
    for (const [oldest, text] of this.objects) {
      if (this.bytes <= this.maxCachedBytes) break;
      this.objects.delete(oldest);
      this.bytes -= text.length;
    }
  }

  /** The latest object's JSON text when it is in memory. */
  cachedJson(key: string): string | undefined {
    return this.objects.get(key);
  }

  /** The latest object of a ref, from memory or the store. */
  async latestObject(key: string, ref: Ref): Promise<JsonObject | null> {
    const cached = this.objects.get(key);
    if (cached !== undefined) return JSON.parse(cached) as JsonObject;
    const revision = await this.store.getRevision(ref);
    return revision?.object ?? null;
  }
}
