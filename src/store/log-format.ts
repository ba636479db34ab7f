import type { ChainRow } from "../core/hash-chain.js";
import {
  type Change,
  type ChangeType,
  changeId,
  copyPatch,
  type Finding,
  type NewChange,
  type Notice,
  type PatchOp,
} from "../model/change.js";
import type { Actor, Cause, Location } from "../model/observation.js";
import type { Ref } from "../model/ref.js";
import type { Head } from "./store.js";

/**
 * The log's row format, shared by every dialect: a dialect stores these columns with these
 * names and reads them back unchanged, so a row written by one dialect verifies under
 * another. JSON columns hold the exact text the hash was computed over.
 */
export interface ChangeRow {
  seq: number;
  type: string;
  source: string;
  grp: string;
  kind: string;
  namespace: string;
  name: string;
  revision: number | null;
  prev_revision: number | null;
  actor: string | null;
  cause: string | null;
  location: string | null;
  observed_at: string;
  committed_at: string;
  patch: string;
  summary: string;
  findings: string;
  notice: string | null;
  content_hash: string | null;
  prev_hash: string;
  hash: string;
}

/**
 * A change row as a dialect stores it (migration 5): the ref is an id into `refs` instead of
 * five TEXT columns. Readers join `refs` back in and get a ChangeRow, the form the chain
 * hashes, so the hash of a row is the same before and after the migration.
 */
export type StoredChangeRow = Omit<ChangeRow, "source" | "grp" | "kind" | "namespace" | "name"> & {
  ref_id: number;
};

/** The stored columns of `changes`, in table order. */
export const STORED_CHANGE_COLUMNS = [
  "seq",
  "type",
  "ref_id",
  "revision",
  "prev_revision",
  "actor",
  "cause",
  "location",
  "observed_at",
  "committed_at",
  "patch",
  "summary",
  "findings",
  "notice",
  "content_hash",
  "prev_hash",
  "hash",
] as const satisfies readonly (keyof StoredChangeRow)[];

export const REF_COLUMNS = ["source", "grp", "kind", "namespace", "name"] as const;

/** One row of `refs`: a ref's integer id, given once and never changed. */
export interface RefRow {
  id: number;
  source: string;
  grp: string;
  kind: string;
  namespace: string;
  name: string;
}

/** A full object kept for one revision (the change at `seq`): every K revisions, see revisions.ts. */
export interface SnapshotRow {
  seq: number;
  object: string;
}

/**
 * The latest resource change of a ref (its head), derived from the log: the change with the
 * highest revision. Nothing is written per change to keep it.
 */
export interface HeadRow {
  ref_id: number;
  source: string;
  grp: string;
  kind: string;
  namespace: string;
  name: string;
  seq: number;
  revision: number;
  type: string;
  content_hash: string | null;
  location: string | null;
}

/**
 * The hashed columns in their fixed order. Changing this order (or the set) changes every
 * hash: it needs a new chain format, not an edit.
 */
export const CHAIN_COLUMNS = [
  "seq",
  "type",
  "source",
  "grp",
  "kind",
  "namespace",
  "name",
  "revision",
  "prev_revision",
  "actor",
  "cause",
  "location",
  "observed_at",
  "committed_at",
  "patch",
  "summary",
  "findings",
  "notice",
  "content_hash",
] as const satisfies readonly (keyof ChangeRow)[];

/**
 * The select list that reads a ChangeRow back from `changes` (alias `c`) joined with `refs`
 * (alias `r`): the ref's columns come from its row in `refs`.
 */
export const CHANGE_SELECT = [...CHAIN_COLUMNS, "prev_hash", "hash"]
  .map((column) =>
    (REF_COLUMNS as readonly string[]).includes(column) ? `r.${column}` : `c.${column}`,
  )
  .join(", ");

export function chainRowOf(row: ChangeRow): ChainRow {
  return CHAIN_COLUMNS.map((column) => row[column]);
}

export function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function parseOrNull<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

/** The stored form of a change; every JSON value is serialized here and only here. */
export function toRow(
  change: NewChange,
  seq: number,
  prevHash: string,
  committedAt: string,
): ChangeRow {
  const { ref } = change;
  return {
    seq,
    type: change.type,
    source: ref.source,
    grp: ref.group,
    kind: ref.kind,
    namespace: ref.namespace,
    name: ref.name,
    revision: change.revision,
    prev_revision: change.previousRevision,
    actor: jsonOrNull(change.actor),
    cause: jsonOrNull(change.cause),
    location: jsonOrNull(change.location),
    observed_at: change.observedAt,
    committed_at: committedAt,
    patch: change.patchJson ?? JSON.stringify(change.patch),
    summary: JSON.stringify(change.summary),
    findings: JSON.stringify(change.findings),
    notice: jsonOrNull(change.notice),
    content_hash: change.contentHash,
    prev_hash: prevHash,
    hash: "",
  };
}

/** The committed form, built from what the caller passed rather than parsed back from the row. */
export function committedChange(change: NewChange, row: ChangeRow): Change {
  // Field by field, not a rest spread: a spread would read a lazy `patch` (see setLazyPatch).
  const committed: Required<Change> = {
    id: changeId(row.hash),
    type: change.type,
    ref: change.ref,
    revision: change.revision,
    previousRevision: change.previousRevision,
    actor: change.actor,
    cause: change.cause,
    location: change.location,
    observedAt: change.observedAt,
    patch: [],
    summary: change.summary,
    findings: change.findings,
    notice: change.notice,
    contentHash: change.contentHash,
    seq: row.seq,
    committedAt: row.committed_at,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
  return copyPatch(committed, change);
}

/** The stored form of a change row: the ref's five columns become its id. */
export function storedRow(row: ChangeRow, refId: number): StoredChangeRow {
  const { source: _s, grp: _g, kind: _k, namespace: _ns, name: _n, ...rest } = row;
  return { ...rest, ref_id: refId };
}

export function refOf(row: {
  source: string;
  grp: string;
  kind: string;
  namespace: string;
  name: string;
}): Ref {
  return {
    source: row.source,
    group: row.grp,
    kind: row.kind,
    namespace: row.namespace,
    name: row.name,
  };
}

export type RefParams = [string, string, string, string, string];

export function refParams(ref: Ref): RefParams {
  return [ref.source, ref.group, ref.kind, ref.namespace, ref.name];
}

export function changeOf(row: ChangeRow): Change {
  return {
    id: changeId(row.hash),
    seq: Number(row.seq),
    type: row.type as ChangeType,
    ref: refOf(row),
    revision: row.revision === null ? null : Number(row.revision),
    previousRevision: row.prev_revision === null ? null : Number(row.prev_revision),
    actor: parseOrNull<Actor>(row.actor),
    cause: parseOrNull<Cause>(row.cause),
    location: parseOrNull<Location>(row.location),
    observedAt: row.observed_at,
    committedAt: row.committed_at,
    patch: JSON.parse(row.patch) as PatchOp[],
    summary: JSON.parse(row.summary) as string[],
    findings: JSON.parse(row.findings) as Finding[],
    notice: parseOrNull<Notice>(row.notice),
    contentHash: row.content_hash,
    hash: row.hash,
    prevHash: row.prev_hash,
  };
}

export function headOf(row: HeadRow): Head {
  return {
    ref: refOf(row),
    revision: Number(row.revision),
    contentHash: row.content_hash,
    deleted: row.type === "DELETED",
    location: parseOrNull<Location>(row.location),
  };
}
