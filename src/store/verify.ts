import { chainHash, GENESIS_HASH } from "../core/hash-chain.js";
import type { ChainHead } from "./commit-plan.js";
import { type ChangeRow, chainRowOf } from "./log-format.js";
import type { RevisionVerifier } from "./revisions.js";
import type { VerifyResult } from "./store.js";

/**
 * Recomputes the hash chain over the rows in seq order and checks the last one against the
 * head kept beside the log. Dialect-neutral: a dialect feeds its rows in (all at once, or
 * page by page from a cursor), so a history copied from one dialect to another verifies the
 * same.
 */
export class ChainVerifier {
  private checked = 0;
  private lastSeq = 0;
  private lastHash = GENESIS_HASH;
  private failure: VerifyResult | undefined;

  /** Checks the next row; false once a row fails (feed no more). */
  feed(row: ChangeRow): boolean {
    if (this.failure) return false;
    const reason = rowProblem(row, this.lastSeq + 1, this.lastHash);
    if (reason) {
      const firstBadSeq = Math.min(Number(row.seq), this.lastSeq + 1);
      this.failure = { ok: false, checked: this.checked, firstBadSeq, reason };
      return false;
    }
    this.checked += 1;
    this.lastSeq = Number(row.seq);
    this.lastHash = row.hash;
    return true;
  }

  result(head: ChainHead | undefined): VerifyResult {
    return this.failure ?? headResult(head, this.checked, this.lastSeq, this.lastHash);
  }
}

export function verifyRows(rows: Iterable<ChangeRow>, head: ChainHead | undefined): VerifyResult {
  const verifier = new ChainVerifier();
  for (const row of rows) if (!verifier.feed(row)) break;
  return verifier.result(head);
}

/** Why a row cannot follow the verified prefix, or undefined when it can. */
function rowProblem(row: ChangeRow, expectedSeq: number, prevHash: string): string | undefined {
  const seq = Number(row.seq);
  if (seq !== expectedSeq) {
    return `expected seq ${expectedSeq} but found seq ${seq}: rows are missing or renumbered`;
  }
  if (row.prev_hash !== prevHash) {
    return `seq ${seq} does not link to the hash of seq ${seq - 1}: rows were removed, reordered or rewritten`;
  }
  if (chainHash(prevHash, chainRowOf(row)) !== row.hash) {
    return `seq ${seq} does not match its hash: the row was edited`;
  }
  return undefined;
}

/** The last row must be the one the head names; otherwise the tail was cut or grafted. */
function headResult(
  head: ChainHead | undefined,
  checked: number,
  lastSeq: number,
  lastHash: string,
): VerifyResult {
  // Rows from firstBadSeq on are not vouched for, even when each links to the one before.
  const bad = (firstBadSeq: number, reason: string): VerifyResult => ({
    ok: false,
    checked: Math.min(checked, firstBadSeq - 1),
    firstBadSeq,
    reason,
  });
  if (!head) return bad(lastSeq + 1, "the chain_head row is missing");
  if (head.lastSeq > lastSeq) {
    return bad(
      lastSeq + 1,
      `the log ends at seq ${lastSeq} but chain_head records seq ${head.lastSeq}: the tail was deleted`,
    );
  }
  if (head.lastSeq < lastSeq) {
    return bad(
      head.lastSeq + 1,
      `chain_head records seq ${head.lastSeq} but the log goes on to seq ${lastSeq}`,
    );
  }
  if (head.lastHash !== lastHash) {
    return bad(Math.max(lastSeq, 1), `the hash of seq ${lastSeq} does not match chain_head`);
  }
  return { ok: true, checked, lastSeq };
}

/**
 * The revisions' verdict once the chain verified: the first revision that cannot be rebuilt
 * to its committed content hash, or snapshots that belong to no resource change (a snapshot
 * is reached only through its change, so one beside a notice or a missing seq is foreign).
 */
export function revisionsResult(
  chain: VerifyResult,
  revisions: RevisionVerifier,
  snapshotsStored: number,
  remasksStored: number,
): VerifyResult {
  if (!chain.ok) return chain;
  if (revisions.problem) {
    const { seq, reason } = revisions.problem;
    return { ok: false, checked: chain.checked, firstBadSeq: seq, reason };
  }
  if (snapshotsStored !== revisions.snapshots) {
    return {
      ok: false,
      checked: chain.checked,
      firstBadSeq: chain.lastSeq,
      reason: `the store holds ${snapshotsStored} snapshots but ${revisions.snapshots} belong to resource changes: snapshots were added`,
    };
  }
  if (remasksStored !== revisions.remasks) {
    return {
      ok: false,
      checked: chain.checked,
      firstBadSeq: chain.lastSeq,
      reason: `the store holds ${remasksStored} re-masked objects but ${revisions.remasks} belong to resource changes: re-masked objects were added`,
    };
  }
  return chain;
}
