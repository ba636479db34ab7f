import { CrwatchError } from "../model/errors.js";
import { REF_COLUMNS, STORED_CHANGE_COLUMNS } from "./log-format.js";
import type { Store, VerifyResult } from "./store.js";

/** One table of a history as it is copied: its columns and the order rows are read in. */
export interface CopiedTable {
  name: string;
  columns: readonly string[];
  /** Key columns: rows are read in this order, so a copy is deterministic. */
  order: readonly string[];
}

/**
 * Every table a history holds, parents before children (changes name a ref, snapshots and
 * problems a change). Ref ids travel as they are, so the changes' ref_id keep meaning the
 * same refs. Derived columns (PostgreSQL's ref_search) and schema_migrations are not copied:
 * the target computes the first and is already at the same version.
 */
export const COPIED_TABLES: readonly CopiedTable[] = [
  { name: "refs", columns: ["id", ...REF_COLUMNS], order: ["id"] },
  { name: "changes", columns: STORED_CHANGE_COLUMNS, order: ["seq"] },
  { name: "snapshots", columns: ["seq", "object"], order: ["seq"] },
  // Re-masked heads (mask key rotation, decision 0028): verify checks them like snapshots.
  { name: "remasks", columns: ["seq", "object", "content_hash"], order: ["seq"] },
  {
    name: "source_streams",
    columns: ["source", "stream", "cursor", "updated_at"],
    order: ["source", "stream"],
  },
  {
    name: "source_health",
    columns: ["source", "status", "message", "updated_at", "attempts"],
    order: ["source"],
  },
  {
    name: "source_problems",
    columns: ["source", "location", "fingerprint", "seq"],
    order: ["source", "location"],
  },
  { name: "consumer_cursors", columns: ["consumer", "seq", "updated_at"], order: ["consumer"] },
  // The mask key's fingerprint goes along, so the copy refuses a different key too.
  { name: "store_meta", columns: ["key", "value"], order: ["key"] },
  {
    name: "dead_letters",
    columns: ["id", "consumer", "seq", "error", "attempts", "created_at", "state"],
    order: ["id"],
  },
  { name: "chain_head", columns: ["id", "last_seq", "last_hash"], order: ["id"] },
];

export type RawRow = Record<string, unknown>;

/** A dialect that can hand out its rows unchanged, page by page. */
export interface HistoryExporter {
  exportRows(table: CopiedTable): AsyncIterable<RawRow[]>;
}

/** A dialect that can take a whole history into an empty store, in one transaction. */
export interface HistoryImporter {
  importHistory(
    tables: readonly CopiedTable[],
    from: HistoryExporter,
  ): Promise<Record<string, number>>;
}

export interface CopyReport {
  rows: Record<string, number>;
  verify: VerifyResult;
}

/**
 * Copies a history and proves the copy: the target must verify, and end at the seq and
 * hash the source ends at. The rows travel as stored (JSON as its text, numbers as
 * numbers), so the hash chain computed by one dialect is checked by the other.
 */
export async function copyHistory(
  from: Store & HistoryExporter,
  to: Store & HistoryImporter,
): Promise<CopyReport> {
  const source = await from.verify();
  if (!source.ok) {
    throw new CrwatchError(
      "CRW_STORE_CHAIN_BROKEN",
      `the source history does not verify (seq ${source.firstBadSeq}: ${source.reason}); nothing was copied`,
    );
  }
  const rows = await to.importHistory(COPIED_TABLES, from);
  const verify = await to.verify();
  const [lastFrom, lastTo] = await Promise.all([from.getChange(source.lastSeq), to.lastSeq()]);
  const lastHash = lastTo === 0 ? undefined : (await to.getChange(lastTo))?.hash;
  if (!verify.ok || lastTo !== source.lastSeq || lastHash !== lastFrom?.hash) {
    const why = verify.ok
      ? `it ends at seq ${lastTo}, the source at ${source.lastSeq}`
      : verify.reason;
    throw new CrwatchError("CRW_STORE_CHAIN_BROKEN", `the copied history does not verify: ${why}`);
  }
  return { rows, verify };
}
