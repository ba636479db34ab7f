import type { Location } from "../model/observation.js";
import { type Ref, refKey } from "../model/ref.js";
import type { Head } from "../store/store.js";

/** A head as stored: [revision, deleted, contentHash, location], one flat JSON string. */
type Packed = [number, boolean, string | null, Location | null];

/**
 * Every head of a source, as ingest keeps them between changes (decision 0037). A head held
 * as objects cost ~600 bytes (the Head, its Ref and Location objects, their strings, and
 * keys and values left as V8 cons strings by JSON.stringify); here a ref's key and a
 * packed value are two flat strings, ~270 bytes: 30 MiB less at 100k resources. A head is
 * unpacked on each `get` (a JSON.parse of ~200 characters: ingest reads a few per change).
 *
 * The key must be `refKey(head.ref)`, as everywhere in ingest: the ref is rebuilt from it.
 */
export class HeadTable {
  private readonly packed = new Map<string, string>();
  /** The head last unpacked: ingest asks for the same ref a few times in a row. */
  private lastKey: string | undefined;
  private last: Head | undefined;

  get size(): number {
    return this.packed.size;
  }

  /** The head of a ref; treat it as read-only (it may be returned again). */
  get(key: string): Head | undefined {
    if (key === this.lastKey) return this.last;
    const value = this.packed.get(key);
    if (value === undefined) return undefined;
    const [revision, deleted, contentHash, location] = JSON.parse(value) as Packed;
    this.lastKey = key;
    this.last = { ref: refOfKey(key), revision, contentHash, deleted, location };
    return this.last;
  }

  set(key: string, head: Head): this {
    if (refKey(head.ref) !== key) throw new Error(`head key ${key} is not its ref's key`);
    this.forgetLast(key);
    const value: Packed = [head.revision, head.deleted, head.contentHash, head.location];
    this.packed.set(flat(key), flat(JSON.stringify(value)));
    return this;
  }

  has(key: string): boolean {
    return this.packed.has(key);
  }

  delete(key: string): boolean {
    this.forgetLast(key);
    return this.packed.delete(key);
  }

  private forgetLast(key: string): void {
    if (key !== this.lastKey) return;
    this.lastKey = undefined;
    this.last = undefined;
  }

  keys(): IterableIterator<string> {
    return this.packed.keys();
  }
}

function refOfKey(key: string): Ref {
  const [source, group, kind, namespace, name] = JSON.parse(key) as string[];
  return { source, group, kind, namespace, name } as Ref;
}

/**
 * The same string, made flat: V8 builds a JSON.stringify result longer than 32 characters
 * (and a concatenation) as a tree of parts; converting it to a number flattens it in
 * place, and the next GC drops the tree (~140 bytes per head, measured).
 */
function flat(s: string): string {
  // Kept in a module variable: a conversion whose result is unused could be optimized away.
  _conversions += Number(s) === 0 ? 0 : 1;
  return s;
}
let _conversions = 0;
