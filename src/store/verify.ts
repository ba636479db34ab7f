import { chainHash, GENESIS_HASH } from "../core/hash-chain.js";
import { sha256Hex } from "../core/stable-json.js";
import type { ChainHead } from "./commit-plan.js";
import { type ChangeRow, chainRowOf, type RevisionRow } from "./log-format.js";
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

/** A stored revision beside the chain row that created it (absent when no row has its seq). */
export interface RevisionCheckRow extends RevisionRow {
  change_type: string | null;
  change_revision: number | null;
  change_hash: string | null;
  change_source: string | null;
  change_grp: string | null;
  change_kind: string | null;
  change_namespace: string | null;
  change_name: string | null;
}

/**
 * Why a revision cannot be trusted, or undefined. The chain covers the change rows; a
 * revision is covered through its change: same ref, same number, and an object whose hash is
 * the content hash the chain committed. An edited revision would otherwise pass `verify` and
 * show a forged "before" in the next change's diff.
 */
export function revisionProblem(row: RevisionCheckRow): string | undefined {
  const where = `revision ${row.revision} of ${row.kind} ${row.namespace}/${row.name} (seq ${row.seq})`;
  if (row.change_type === null) return `${where} has no change row in the log`;
  const sameRef =
    row.change_source === row.source &&
    row.change_grp === row.grp &&
    row.change_kind === row.kind &&
    row.change_namespace === row.namespace &&
    row.change_name === row.name;
  if (!sameRef || Number(row.change_revision) !== Number(row.revision))
    return `${where} does not belong to the change at seq ${row.seq}`;
  if (row.content_hash !== row.change_hash)
    return `${where} has a content hash the chain did not commit`;
  if (row.object !== null && sha256Hex(row.object) !== row.content_hash)
    return `${where}: the stored object does not match its committed content hash (edited)`;
  if ((row.object === null) !== (row.change_type === "DELETED"))
    return `${where}: a deletion and its stored object disagree`;
  return undefined;
}

/** The first revision that fails, as a verify result (the chain itself verified). */
export function verifyRevisions(
  chain: VerifyResult,
  rows: () => Iterable<RevisionCheckRow>,
  changesWithRevision: number,
): VerifyResult {
  if (!chain.ok) return chain;
  let count = 0;
  for (const row of rows()) {
    count += 1;
    const reason = revisionProblem(row);
    if (reason) {
      return { ok: false, checked: chain.checked, firstBadSeq: Number(row.seq), reason };
    }
  }
  if (count !== changesWithRevision) {
    return {
      ok: false,
      checked: chain.checked,
      firstBadSeq: chain.lastSeq,
      reason: `the log has ${changesWithRevision} resource changes but ${count} stored revisions: revisions were removed or added`,
    };
  }
  return chain;
}
