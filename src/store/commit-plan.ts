import { chainHash } from "../core/hash-chain.js";
import { type Change, isNotice, type NewChange } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import { formatRef, type Ref, refKey } from "../model/ref.js";
import {
  type ChangeRow,
  chainRowOf,
  committedChange,
  type HeadRow,
  jsonOrNull,
  type RevisionRow,
  toRow,
} from "./log-format.js";
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
 * and hashes, the revisions and heads they create, the problems they open. A dialect runs
 * the plan inside one transaction and nothing else; seq assignment and the chain live here.
 */
export interface CommitPlan {
  changes: ChangeRow[];
  revisions: RevisionRow[];
  heads: HeadRow[];
  problems: ProblemRow[];
  committed: Change[];
  /** The chain head after the commit (unchanged when the batch has no change). */
  head: ChainHead;
}

export function planCommit(batch: CommitBatch, head: ChainHead, committedAt: string): CommitPlan {
  const plan: CommitPlan = {
    changes: [],
    revisions: [],
    heads: [],
    problems: [],
    committed: [],
    head,
  };
  let seq = head.lastSeq;
  let prevHash = head.lastHash;
  for (const change of batch.changes) {
    seq += 1;
    const row = toRow(change, seq, prevHash, committedAt);
    row.hash = chainHash(prevHash, chainRowOf(row));
    plan.changes.push(row);
    plan.committed.push(committedChange(change, row));
    addEffects(plan, change, row);
    prevHash = row.hash;
  }
  plan.head = { lastSeq: seq, lastHash: prevHash };
  return plan;
}

function addEffects(plan: CommitPlan, change: NewChange, row: ChangeRow): void {
  if (!isNotice(change.type)) {
    const deleted = change.type === "DELETED";
    const object = deleted ? null : (change.objectJson ?? jsonOrNull(change.object));
    const { source, grp, kind, namespace, name, content_hash, location } = row;
    const revision = row.revision ?? 0;
    const ref = { source, grp, kind, namespace, name };
    plan.revisions.push({ ...ref, revision, seq: row.seq, object, content_hash, location });
    plan.heads.push({ ...ref, revision, content_hash, deleted: deleted ? 1 : 0, location });
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
  revision: number | null;
}

/**
 * A change states the revision it follows (`previousRevision`); the first change of each ref
 * in a batch is what the store's head must still be. A writer whose view is stale (another
 * writer moved the head) must reload, not fork the ref's history.
 */
export function expectedHeads(batch: CommitBatch): ExpectedHead[] {
  const seen = new Map<string, ExpectedHead>();
  for (const change of batch.changes) {
    if (isNotice(change.type)) continue;
    const key = refKey(change.ref);
    if (!seen.has(key)) seen.set(key, { ref: change.ref, revision: change.previousRevision });
  }
  return [...seen.values()];
}

export function conflictError(expected: ExpectedHead, actual: number | null): CrwatchError {
  const want = expected.revision === null ? "no history" : `revision ${expected.revision}`;
  const found = actual === null ? "no history" : `revision ${actual}`;
  return new CrwatchError(
    "CRW_STORE_CONFLICT",
    `${formatRef(expected.ref)}: the commit expected ${want} as the head, but the store has ${found}`,
  );
}
