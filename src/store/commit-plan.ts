import { chainHash } from "../core/hash-chain.js";
import { type Change, isNotice, type NewChange } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import { formatRef, type Ref, refKey } from "../model/ref.js";
import { type ChangeRow, chainRowOf, committedChange, jsonOrNull, toRow } from "./log-format.js";
import { type HeadState, snapshotDue } from "./revisions.js";
import type { CommitBatch } from "./store.js";

export interface ChainHead {
  lastSeq: number;
  lastHash: string;
}

/** One open problem to write: an ERROR fills the slot of its location. */
export interface ProblemRow {
  source: string;
  location: string;
  fingerprint: string;
  seq: number;
}

/**
 * Everything one commit writes, worked out before any SQL runs: the rows with their seqs
 * and hashes, the snapshots (full objects) due, the problems they open. A dialect runs the
 * plan inside one transaction and nothing else; seq assignment and the chain live here.
 * Heads are not written: they are the latest change of each ref (see HeadRow).
 */
export interface CommitPlan {
  changes: ChangeRow[];
  /** A full object for the changes that need one (revisions.ts: `snapshotDue`). */
  snapshots: { seq: number; object: string }[];
  problems: ProblemRow[];
  committed: Change[];
  /** The chain head after the commit (unchanged when the batch has no change). */
  head: ChainHead;
}

export interface PlanOptions {
  /** A full object every this many revisions (and at every ADDED). */
  snapshotEvery: number;
  /** The store's head of each ref the batch changes, as the conflict check read it. */
  heads: ReadonlyMap<string, HeadState>;
  /** `refKey` of each change's ref (batchKeys), when the caller has them already. */
  keys?: readonly string[];
}

/** `refKey` of each change's ref, in batch order: worked out once per commit, not per use. */
export function batchKeys(batch: CommitBatch): string[] {
  return batch.changes.map((change) => refKey(change.ref));
}

export function planCommit(
  batch: CommitBatch,
  head: ChainHead,
  committedAt: string,
  options: PlanOptions,
): CommitPlan {
  const plan: CommitPlan = { changes: [], snapshots: [], problems: [], committed: [], head };
  // Each ref's head as the batch moves it: a ref changed twice in one batch follows itself.
  const heads = new Map(options.heads);
  const keys = options.keys ?? batchKeys(batch);
  let seq = head.lastSeq;
  let prevHash = head.lastHash;
  batch.changes.forEach((change, i) => {
    seq += 1;
    const row = toRow(change, seq, prevHash, committedAt);
    row.hash = chainHash(prevHash, chainRowOf(row));
    plan.changes.push(row);
    plan.committed.push(committedChange(change, row));
    addEffects(plan, change, keys[i] as string, row, heads, options.snapshotEvery);
    prevHash = row.hash;
  });
  plan.head = { lastSeq: seq, lastHash: prevHash };
  return plan;
}

function addEffects(
  plan: CommitPlan,
  change: NewChange,
  key: string,
  row: ChangeRow,
  heads: Map<string, HeadState>,
  every: number,
): void {
  if (!isNotice(change.type)) {
    const deleted = change.type === "DELETED";
    if (!deleted && snapshotDue(change, heads.get(key), every)) {
      const object = change.objectJson ?? jsonOrNull(change.object) ?? "null";
      plan.snapshots.push({ seq: row.seq, object });
    }
    heads.set(key, { revision: row.revision ?? 0, deleted });
  } else if (change.type === "ERROR" && change.fingerprint !== undefined) {
    plan.problems.push({
      source: change.ref.source,
      location: change.problemSlot ?? change.location?.path ?? "",
      fingerprint: change.fingerprint,
      seq: row.seq,
    });
  }
}

/** The head revision each changed ref must have for this batch to apply (null: no history). */
export interface ExpectedHead {
  ref: Ref;
  /** refKey(ref) */
  key: string;
  revision: number | null;
}

/**
 * A change states the revision it follows (`previousRevision`); the first change of each ref
 * in a batch is what the store's head must still be. A writer whose view is stale (another
 * writer moved the head) must reload, not fork the ref's history.
 */
export function expectedHeads(
  batch: CommitBatch,
  keys: readonly string[] = batchKeys(batch),
): ExpectedHead[] {
  const seen = new Map<string, ExpectedHead>();
  batch.changes.forEach((change, i) => {
    if (isNotice(change.type)) return;
    const key = keys[i] as string;
    if (!seen.has(key)) seen.set(key, { ref: change.ref, key, revision: change.previousRevision });
  });
  return [...seen.values()];
}

/**
 * Throws CRW_STORE_CONFLICT for the first ref (in batch order) whose head in the store is not
 * the one its first change expects; `heads` holds the store's heads (absent: no history).
 */
export function checkHeads(
  expected: readonly ExpectedHead[],
  heads: ReadonlyMap<string, HeadState>,
): void {
  for (const want of expected) {
    const actual = heads.get(want.key)?.revision ?? null;
    if (actual !== want.revision) throw conflictError(want, actual);
  }
}

export function conflictError(expected: ExpectedHead, actual: number | null): CrwatchError {
  const want = expected.revision === null ? "no history" : `revision ${expected.revision}`;
  const found = actual === null ? "no history" : `revision ${actual}`;
  return new CrwatchError(
    "CRW_STORE_CONFLICT",
    `${formatRef(expected.ref)}: the commit expected ${want} as the head, but the store has ${found}`,
  );
}
