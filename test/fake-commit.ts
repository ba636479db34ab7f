import { stableStringify } from "../src/core/stable-json.js";
import type { JsonObject } from "../src/model/json.js";
import {
  inScope,
  type Observation,
  type ObservedObject,
  type Scope,
} from "../src/model/observation.js";
import { formatRef, type Ref, refKey } from "../src/model/ref.js";

export interface FakeChange {
  type: "ADDED" | "MODIFIED" | "DELETED" | "GAP";
  ref: string;
  object?: JsonObject;
  code?: string;
  reason?: string;
}

/**
 * A stand-in for ingest + store that sources' tests commit to: it keeps the current object
 * per ref and turns observations into ADDED / MODIFIED / DELETED / GAP exactly as the
 * observation contract says (upserts, deletes, snapshots and paged snapshots with scope).
 */
export class FakeCommit {
  readonly observations: Observation[] = [];
  readonly changes: FakeChange[] = [];
  readonly heads = new Map<string, { ref: Ref; object: JsonObject }>();
  private readonly open = new Map<string, { scope: Scope | undefined; seen: Set<string> }>();

  commit = async (observation: Observation): Promise<void> => {
    this.observations.push(observation);
    for (const event of observation.events) {
      switch (event.type) {
        case "upsert":
          this.put(event.item);
          break;
        case "delete":
          this.remove(refKey(event.ref));
          break;
        case "snapshot": {
          const seen = new Set(event.items.map((i) => refKey(i.ref)));
          for (const item of event.items) this.put(item);
          this.inferDeletions(event.scope, seen);
          break;
        }
        case "snapshot-begin":
          this.open.set(event.id, { scope: event.scope, seen: new Set() });
          break;
        case "snapshot-page": {
          const view = this.open.get(event.id);
          if (!view) throw new Error(`page of a snapshot that never began: ${event.id}`);
          for (const item of event.items) {
            view.seen.add(refKey(item.ref));
            this.put(item);
          }
          break;
        }
        case "snapshot-end": {
          const view = this.open.get(event.id);
          if (!view) throw new Error(`end of a snapshot that never began: ${event.id}`);
          this.open.delete(event.id);
          this.inferDeletions(view.scope, view.seen);
          break;
        }
        case "gap":
          this.changes.push({ type: "GAP", ref: "", code: event.code, reason: event.reason });
          break;
        default:
          break;
      }
    }
  };

  /** Changes from index `from` on, as `TYPE ref` lines (sorted within the call for stable asserts). */
  lines(from = 0): string[] {
    return this.changes
      .slice(from)
      .map((c) => (c.type === "GAP" ? `GAP ${c.code}` : `${c.type} ${c.ref}`));
  }

  object(ref: string): JsonObject | undefined {
    for (const head of this.heads.values()) if (formatRef(head.ref) === ref) return head.object;
    return undefined;
  }

  private put(item: ObservedObject): void {
    const key = refKey(item.ref);
    const before = this.heads.get(key);
    if (before && stableStringify(before.object) === stableStringify(item.object)) return;
    this.heads.set(key, { ref: item.ref, object: item.object });
    this.changes.push({
      type: before ? "MODIFIED" : "ADDED",
      ref: formatRef(item.ref),
      object: item.object,
    });
  }

  private remove(key: string): void {
    const head = this.heads.get(key);
    if (!head) return;
    this.heads.delete(key);
    this.changes.push({ type: "DELETED", ref: formatRef(head.ref) });
  }

  private inferDeletions(scope: Scope | undefined, seen: Set<string>): void {
    for (const [key, head] of [...this.heads]) {
      if (!seen.has(key) && inScope(scope, head.ref, null)) this.remove(key);
    }
  }
}
