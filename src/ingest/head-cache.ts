import type { JsonObject } from "../model/json.js";
import { type Ref, refKey } from "../model/ref.js";
import type { Head, OpenProblem, Store } from "../store/store.js";

/**
 * Ingest's memory of one source: every head (small), the open problems, and the latest
 * objects of recently changed refs (bounded LRU; a miss reads the store). Heads are
 * loaded once per source so deciding "is this a change?" costs no I/O.
 */
export class SourceState {
  readonly heads = new Map<string, Head>();
  readonly problems = new Map<string, OpenProblem>();
  private readonly objects = new Map<string, JsonObject>();

  constructor(
    private readonly store: Store,
    private readonly maxCachedObjects: number,
  ) {}

  static async load(store: Store, source: string, maxCachedObjects: number): Promise<SourceState> {
    const state = new SourceState(store, maxCachedObjects);
    for (const head of await store.loadHeads(source)) state.heads.set(refKey(head.ref), head);
    for (const problem of await store.openProblems(source))
      state.problems.set(problem.location, problem);
    return state;
  }

  rememberObject(key: string, object: JsonObject | null): void {
    this.objects.delete(key);
    if (object === null) return;
    this.objects.set(key, object);
    if (this.objects.size > this.maxCachedObjects) {
      const oldest = this.objects.keys().next().value;
      if (oldest !== undefined) this.objects.delete(oldest);
    }
  }

  /** The latest object of a ref, from memory or the store. */
  async latestObject(key: string, ref: Ref): Promise<JsonObject | null> {
    const cached = this.objects.get(key);
    if (cached) return cached;
    const revision = await this.store.getRevision(ref);
    return revision?.object ?? null;
  }
}
