import fjp from "fast-json-patch";
import { withoutMasks } from "../core/mask-strings.js";
import { sha256Hex, stableStringify } from "../core/stable-json.js";
import type { ChangeType, Revision } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import type { JsonObject, JsonValue } from "../model/json.js";
import type { Location } from "../model/observation.js";
import { formatRef, type Ref } from "../model/ref.js";
import { type HeadRow, refOf } from "./log-format.js";

/**
 * How revisions are stored since migration 5 (decision 0027): a change row carries its
 * patch, and a full object (a snapshot) is kept only every K revisions, at every ADDED and
 * whenever a revision has no usable predecessor. A revision in between is rebuilt by applying
 * the patches after the latest snapshot, and the result must hash to the content hash the
 * chain committed for it, so a snapshot is as tamper-evident as the change rows.
 */

/** A full object every 16 revisions by default: a read applies at most 15 patches. */
export const DEFAULT_SNAPSHOT_EVERY = 16;

/** A ref's head as the commit plan needs it. */
export interface HeadState {
  revision: number;
  deleted: boolean;
}

/**
 * Whether a new revision gets a snapshot. ADDED always does (its patch is from nothing), so
 * does a revision whose predecessor is not the revision just before it (a tombstone, a gap
 * in numbering, no history); otherwise every `every`-th revision (1, K+1, 2K+1 …), which
 * bounds a rebuild to K-1 patches.
 */
export function snapshotDue(
  change: { type: ChangeType; revision: number | null; previousRevision: number | null },
  previous: HeadState | undefined,
  every: number,
): boolean {
  if (change.type !== "MODIFIED") return true;
  const revision = change.revision;
  if (revision === null || !previous || previous.deleted) return true;
  if (change.previousRevision !== revision - 1 || previous.revision !== revision - 1) return true;
  return (revision - 1) % Math.max(1, every) === 0;
}

/** One resource change as a rebuild reads it, with its snapshot's text when it has one. */
export interface ReplayRow {
  seq: number;
  revision: number;
  type: string;
  patch: string;
  content_hash: string | null;
  location: string | null;
  /** The snapshot of this revision, or null (none kept, or a deletion). */
  object: string | null;
  /**
   * The revision re-masked after a mask key rotation (migration 6, decision 0028) and its
   * hash, or null: the same content with new masks, the form read and rebuilt from.
   */
  remasked?: string | null;
  remasked_hash?: string | null;
}

/** A patch as stored, applied in place (the document is the rebuild's own copy). */
function applyStoredPatch(doc: JsonValue, patch: string): JsonValue {
  let current = doc;
  for (const op of JSON.parse(patch) as fjp.Operation[]) {
    current = fjp.applyOperation(current, op, true, true, true, 0).newDocument as JsonValue;
  }
  return current;
}

/**
 * The serialization of a rebuilt object that the chain committed, if any. Patches keep the
 * key order of the document they apply to and append added keys, so an object stored with
 * sorted keys (ingest canonicalizes every object) comes back in that order only once sorted.
 */
function matchingText(
  doc: JsonValue,
  hash: string | null,
): { text: string; sorted: boolean } | undefined {
  const plain = JSON.stringify(doc);
  if (sha256Hex(plain) === hash) return { text: plain, sorted: false };
  const sorted = stableStringify(doc);
  if (sorted !== plain && sha256Hex(sorted) === hash) return { text: sorted, sorted: true };
  return undefined;
}

/** A revision rebuilt: its text as committed (null for a deletion) and its object. */
interface Rebuilt {
  text: string | null;
  object: JsonValue | null;
}

/**
 * Walks one ref's revisions in order. `step` with `check` verifies every revision against
 * its content hash (verify, listRevisions); without, it only applies the patch, and the
 * caller checks the last one (a read of one revision).
 */
class Rebuild {
  private doc: JsonValue | null = null;
  private text: string | null = null;
  private from = 0;

  /** Starts from a revision known good (a cached one) instead of a snapshot. */
  startAt(revision: number, text: string): void {
    this.text = text;
    this.doc = null;
    this.from = revision;
  }

  /**
   * The revision's object, or a problem (why it cannot be trusted). A re-masked revision is
   * checked as committed, then its re-masked copy is checked against it and becomes the
   * revision's object and the base of the patches after it (they were diffed against it).
   */
  step(row: ReplayRow, check: boolean): Rebuilt | string {
    const remasked = row.remasked ?? null;
    if (remasked === null && (row.remasked_hash ?? null) === null)
      return this.stepCommitted(row, check);
    const out = this.stepCommitted(row, true);
    if (typeof out === "string") return out;
    if (out.text === null) return "a deletion has a re-masked object";
    const problem = remaskProblem(out.text, remasked, row.remasked_hash ?? null);
    if (problem) return problem;
    this.startAt(row.revision, remasked as string);
    return { text: remasked, object: null };
  }

  private stepCommitted(row: ReplayRow, check: boolean): Rebuilt | string {
    if (row.object !== null) {
      if (row.type === "DELETED") return "a deletion has a stored object";
      if (sha256Hex(row.object) !== row.content_hash)
        return "the stored snapshot does not match its committed content hash (edited)";
      this.startAt(row.revision, row.object);
      return { text: row.object, object: null };
    }
    if (row.type === "DELETED") {
      this.doc = null;
      this.text = null;
      return { text: null, object: null };
    }
    if (this.doc === null && this.text === null)
      return "no snapshot to rebuild it from (its full object is missing)";
    try {
      this.doc = applyStoredPatch(
        this.doc ?? (JSON.parse(this.text as string) as JsonValue),
        row.patch,
      );
    } catch (err) {
      return `its patch does not apply to the revision before it: ${String(err)}`;
    }
    this.text = null;
    return check ? this.check(row) : { text: null, object: this.doc };
  }

  /** The current object against the row's content hash; a match in sorted form resets the order. */
  check(row: ReplayRow): Rebuilt | string {
    if (this.text !== null) return { text: this.text, object: null };
    const match = matchingText(this.doc as JsonValue, row.content_hash);
    if (match === undefined) {
      return `the object rebuilt from the snapshot of revision ${this.from} and the patches after it does not match the content hash the chain committed`;
    }
    this.text = match.text;
    // Sorted keys matched: go on from the committed order, as a rebuild from it would.
    if (match.sorted) this.doc = null;
    return { text: match.text, object: this.doc };
  }
}

/**
 * A re-masked copy has no change row of its own: it is trusted as far as it is the committed
 * object with other masks. Masks are opaque by design, so that is all it may differ in.
 */
function remaskProblem(
  committed: string,
  remasked: string | null,
  hash: string | null,
): string | undefined {
  if (remasked === null || sha256Hex(remasked) !== hash)
    return "the re-masked object does not match its hash (edited)";
  if (withoutMasks(remasked) !== withoutMasks(committed))
    return "the re-masked object differs from the committed one in more than its masks";
  return undefined;
}

/** A revision that cannot be trusted, named with the one asked for when it was on the way. */
function corrupt(ref: Ref, row: ReplayRow, problem: string, wanted: ReplayRow = row): CrwatchError {
  const where = `revision ${row.revision} (seq ${row.seq})`;
  const message =
    wanted === row
      ? `${formatRef(ref)} ${where}: ${problem}`
      : `${formatRef(ref)} revision ${wanted.revision} (seq ${wanted.seq}) cannot be rebuilt: ${where}: ${problem}`;
  return new CrwatchError("CRW_STORE_CORRUPT", message);
}

function revisionOf(ref: Ref, row: ReplayRow, rebuilt: Rebuilt): Revision {
  const object =
    rebuilt.text === null ? null : ((rebuilt.object ?? JSON.parse(rebuilt.text)) as JsonObject);
  return {
    ref,
    revision: Number(row.revision),
    seq: Number(row.seq),
    object,
    // A re-masked revision reads as its re-masked form (see Rebuild.step).
    contentHash: row.remasked_hash ?? row.content_hash,
    location: row.location === null ? null : (JSON.parse(row.location) as Location),
  };
}

/**
 * Every revision of one ref from its rows in revision order (snapshots joined), each
 * checked against its content hash. A revision that cannot be rebuilt is CRW_STORE_CORRUPT.
 */
export function replayAll(ref: Ref, rows: readonly ReplayRow[]): Revision[] {
  const rebuild = new Rebuild();
  return rows.map((row) => {
    const out = rebuild.step(row, true);
    if (typeof out === "string") throw corrupt(ref, row, out);
    // Each revision gets its own object: the rebuild goes on mutating its document.
    return revisionOf(ref, row, { text: out.text, object: null });
  });
}

/** What a dialect reads for a rebuild; both give rows in ascending revision order. */
export interface RevisionRows {
  /**
   * The rows from the latest snapshot at or before `revision` through `revision` (the
   * latest revision when undefined); only the last row when it is a deletion.
   */
  fromSnapshot(refId: number, revision: number | undefined): Promise<ReplayRow[]>;
  /** The rows after revision `after` through `revision` (snapshots need not be joined). */
  after(refId: number, after: number, revision: number): Promise<ReplayRow[]>;
}

interface Cached {
  row: ReplayRow;
  text: string | null;
}

/** A read cache of 4 MiB of object text: recent revisions (a head read again) cost a lookup. */
export const REVISION_CACHE_BYTES = 4 * 1024 * 1024;

/**
 * The one way a revision's object is read (getRevision, listResources, and through them
 * ingest's "before", the API, rollback and `show`). Cost of a miss: one indexed query for at
 * most K rows, a JSON.parse of the snapshot, up to K-1 patches applied in place, one
 * stringify and one SHA-256 (plus a sort when keys were added). A cached revision at most K
 * below the one asked for is used as the start instead of the snapshot.
 */
export class RevisionReader {
  private readonly cache = new Map<string, Cached>();
  private bytes = 0;

  constructor(
    private readonly rows: RevisionRows,
    private readonly probe: number,
    private readonly maxBytes = REVISION_CACHE_BYTES,
  ) {}

  /** A revision of a ref, the latest when `revision` is undefined (one query either way). */
  async read(refId: number, ref: Ref, revision?: number): Promise<Revision | undefined> {
    const hit = revision === undefined ? undefined : this.cache.get(key(refId, revision));
    if (hit) return revisionOf(ref, hit.row, { text: hit.text, object: null });
    const base = revision === undefined ? undefined : this.nearestBelow(refId, revision);
    if (base && revision !== undefined) {
      const rows = await this.rows.after(refId, base.row.revision, revision);
      const target = rows.at(-1);
      if (!target || Number(target.revision) !== revision) return undefined;
      // A cached base another writer has re-masked since (mask key rotation) no longer fits
      // the patches after it: then the read starts over from the snapshot.
      const rebuilt = this.replayOrUndefined(ref, rows, base);
      if (rebuilt) return this.found(refId, ref, target, rebuilt);
    }
    const rows = await this.rows.fromSnapshot(refId, revision);
    const target = rows.at(-1);
    if (!target || (revision !== undefined && Number(target.revision) !== revision))
      return undefined;
    const rebuilt = this.replay(ref, rows, undefined) ?? this.replayChecked(ref, rows, undefined);
    return this.found(refId, ref, target, rebuilt);
  }

  /** Forgets a cached revision (it was re-masked): the next read rebuilds it. */
  forget(refId: number, revision: number): void {
    const k = key(refId, revision);
    const cached = this.cache.get(k);
    if (!cached) return;
    this.bytes -= (cached.text?.length ?? 0) + 200;
    this.cache.delete(k);
  }

  private found(refId: number, ref: Ref, target: ReplayRow, rebuilt: Rebuilt): Revision {
    this.remember(refId, target, rebuilt.text);
    return revisionOf(ref, target, rebuilt);
  }

  private replayOrUndefined(ref: Ref, rows: ReplayRow[], base: Cached): Rebuilt | undefined {
    try {
      return this.replay(ref, rows, base);
    } catch {
      return undefined;
    }
  }

  /** A head's revision (listResources): a tombstone needs no read. */
  async head(head: HeadRow): Promise<Revision> {
    const ref = refOf(head);
    const row: ReplayRow = { ...head, patch: "[]", object: null };
    if (head.type === "DELETED") return revisionOf(ref, row, { text: null, object: null });
    const found = await this.read(head.ref_id, ref, Number(head.revision));
    if (!found) throw corrupt(ref, row, "the head's change row vanished while it was read");
    return found;
  }

  /** The fast path: patches applied, only the last revision checked; undefined to retry checked. */
  private replay(ref: Ref, rows: ReplayRow[], base: Cached | undefined): Rebuilt | undefined {
    const rebuild = new Rebuild();
    if (base?.text) rebuild.startAt(base.row.revision, base.text);
    const last = rows.length - 1;
    const target = rows[last] as ReplayRow;
    for (let i = 0; i < last; i++) {
      const out = rebuild.step(rows[i] as ReplayRow, false);
      if (typeof out === "string") throw corrupt(ref, rows[i] as ReplayRow, out, target);
    }
    const out = rebuild.step(target, false);
    if (typeof out === "string") throw corrupt(ref, target, out);
    if (out.text !== null || target.type === "DELETED") return out;
    const checked = rebuild.check(target);
    return typeof checked === "string" ? undefined : checked;
  }

  /** Every revision checked and its key order reset to the committed one, as verify does. */
  private replayChecked(ref: Ref, rows: ReplayRow[], base: Cached | undefined): Rebuilt {
    const rebuild = new Rebuild();
    if (base?.text) rebuild.startAt(base.row.revision, base.text);
    const target = rows[rows.length - 1] as ReplayRow;
    let out: Rebuilt | string = { text: null, object: null };
    for (const row of rows) {
      out = rebuild.step(row, true);
      if (typeof out === "string") throw corrupt(ref, row, out, target);
    }
    return out as Rebuilt;
  }

  private nearestBelow(refId: number, revision: number): Cached | undefined {
    for (let r = revision - 1; r >= Math.max(1, revision - this.probe); r--) {
      const found = this.cache.get(key(refId, r));
      if (found) return found.text === null ? undefined : found;
    }
    return undefined;
  }

  private remember(refId: number, row: ReplayRow, text: string | null): void {
    const size = (text?.length ?? 0) + 200;
    if (size > this.maxBytes) return;
    // The row's own object, when it has one, is this same text: nothing extra is held.
    this.cache.set(key(refId, Number(row.revision)), { row, text });
    this.bytes += size;
    while (this.bytes > this.maxBytes) {
      const oldest = this.cache.keys().next().value as string;
      this.bytes -= (this.cache.get(oldest)?.text?.length ?? 0) + 200;
      this.cache.delete(oldest);
    }
  }
}

function key(refId: number, revision: number): string {
  return `${refId}:${revision}`;
}

/** A resource change in (ref, revision) order with its ref, as verify and the upgrade walk it. */
export interface RevisionWalkRow extends ReplayRow {
  ref_id: number;
  prev_revision: number | null;
  source: string | null;
  grp: string | null;
  kind: string | null;
  namespace: string | null;
  name: string | null;
}

/**
 * Verify's side of the revisions: fed every resource change in (ref_id, revision) order, it
 * rebuilds each revision and checks it against the content hash the chain committed (so an
 * edited snapshot fails on itself, a forged patch on the chain). Counts the snapshots it met
 * so the dialect can tell whether the table holds others.
 */
export class RevisionVerifier {
  snapshots = 0;
  /** Re-masked copies met, so the dialect can tell whether the table holds others. */
  remasks = 0;
  private refId: number | undefined;
  private rebuild = new Rebuild();
  problem: { seq: number; reason: string } | undefined;

  feed(row: RevisionWalkRow): boolean {
    if (this.problem) return false;
    if (row.ref_id !== this.refId) {
      this.refId = row.ref_id;
      this.rebuild = new Rebuild();
    }
    if (row.object !== null) this.snapshots += 1;
    if ((row.remasked ?? null) !== null) this.remasks += 1;
    const out = this.rebuild.step(row, true);
    if (typeof out !== "string") return true;
    const where = `revision ${row.revision} of ${row.kind} ${row.namespace}/${row.name} (seq ${row.seq})`;
    this.problem = { seq: Number(row.seq), reason: `${where}: ${out}` };
    return false;
  }
}

/**
 * The upgrade to migration 5 keeps every old revision as a snapshot, then drops those the
 * new rule would not keep and that the patch chain rebuilds exactly (checked against the
 * content hash). A revision whose stored object does not match its content hash (tampered
 * before the upgrade) is kept, and so is the next, so `verify` still reports it.
 */
export class SnapshotThinner {
  /** Seqs of the snapshots to drop. */
  readonly drop: number[] = [];
  private refId: number | undefined;
  private previous: (HeadState & { text: string | null }) | undefined;

  constructor(private readonly every: number) {}

  /** The next resource change in (ref_id, revision) order, with its snapshot. */
  feed(row: RevisionWalkRow): void {
    if (row.ref_id !== this.refId) {
      this.refId = row.ref_id;
      this.previous = undefined;
    }
    const revision = Number(row.revision);
    if (row.type === "DELETED" || row.object === null) {
      this.previous = { revision, deleted: row.type === "DELETED", text: null };
      return;
    }
    const good = sha256Hex(row.object) === row.content_hash ? row.object : null;
    const change = {
      type: row.type as ChangeType,
      revision,
      previousRevision: row.prev_revision === null ? null : Number(row.prev_revision),
    };
    const previous = this.previous;
    if (good !== null && previous?.text && !snapshotDue(change, previous, this.every)) {
      if (rebuildsTo(previous.text, row)) this.drop.push(Number(row.seq));
    }
    this.previous = { revision, deleted: false, text: good };
  }
}

function rebuildsTo(previous: string, row: ReplayRow): boolean {
  try {
    const doc = applyStoredPatch(JSON.parse(previous) as JsonValue, row.patch);
    return matchingText(doc, row.content_hash) !== undefined;
  } catch {
    return false;
  }
}
