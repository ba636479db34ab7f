import type { Change, ChangeType, NewChange, Revision } from "../model/change.js";
import type { Location } from "../model/observation.js";
import type { Ref } from "../model/ref.js";

/**
 * The latest known state of one ref, enough for ingest to decide whether an observation
 * is a change without reading the whole object.
 */
export interface Head {
  ref: Ref;
  revision: number;
  contentHash: string | null;
  /** True when the latest revision is a deletion (a tombstone keeps revision numbering). */
  deleted: boolean;
  location: Location | null;
}

/** An open ERROR notice: the same problem at the same location is not recorded twice. */
export interface OpenProblem {
  /** The problem's slot: a file path, or a path and a document index (see ingest). */
  location: string;
  fingerprint: string;
  seq: number;
}

export interface CommitBatch {
  changes: NewChange[];
  /** Source cursors to save in the same transaction as the changes. */
  cursors: { source: string; cursor: string }[];
  /** Locations whose open problem is resolved (they read cleanly again). */
  resolvedProblems: { source: string; location: string }[];
}

export interface ChangeQuery {
  afterSeq?: number;
  /** Case-insensitive substring of the formatted ref (`source:Kind.group ns/name`). */
  refContains?: string;
  types?: ChangeType[];
  limit?: number;
}

export interface SourceHealth {
  source: string;
  status: "starting" | "ok" | "degraded" | "failed" | "stopped";
  message: string;
  updatedAt: string;
}

export interface ConsumerCursor {
  consumer: string;
  seq: number;
  updatedAt: string;
}

export interface DeadLetter {
  consumer: string;
  seq: number;
  error: string;
  attempts: number;
}

export type VerifyResult =
  | { ok: true; checked: number; lastSeq: number }
  | { ok: false; checked: number; firstBadSeq: number; reason: string };

/**
 * Dialect differences are declared, not tested for with `if (sqlite)` (see Kysely): callers
 * read a capability and choose.
 */
export interface StoreCapabilities {
  /** Several processes may write through this store at once. */
  multiWriter: boolean;
  /** Other processes can be notified of commits (otherwise readers poll). */
  crossProcessNotify: boolean;
}

/**
 * The one store interface. Every method is async so that a network dialect (PostgreSQL)
 * fits behind it; the SQLite dialect resolves at once. The contract test suite in
 * store/contract.ts runs against every dialect.
 */
export interface Store {
  readonly capabilities: StoreCapabilities;

  /** Latest revision of every ref of one source, tombstones included. */
  loadHeads(source: string): Promise<Head[]>;
  /** A revision of a ref; the latest when `revision` is omitted. */
  getRevision(ref: Ref, revision?: number): Promise<Revision | undefined>;
  listRevisions(ref: Ref): Promise<Revision[]>;

  /**
   * Appends the changes (assigning seq and hash), writes their revisions, moves heads,
   * saves cursors and opens/resolves problems, all in one transaction. Returns the
   * committed changes in seq order.
   */
  commit(batch: CommitBatch): Promise<Change[]>;

  readChanges(query: ChangeQuery): Promise<Change[]>;
  getChange(seq: number): Promise<Change | undefined>;
  lastSeq(): Promise<number>;

  getSourceCursor(source: string): Promise<string | undefined>;
  setSourceHealth(health: SourceHealth): Promise<void>;
  listSourceHealth(): Promise<SourceHealth[]>;
  openProblems(source: string): Promise<OpenProblem[]>;

  getConsumerCursor(consumer: string): Promise<number>;
  setConsumerCursor(consumer: string, seq: number): Promise<void>;
  listConsumerCursors(): Promise<ConsumerCursor[]>;
  addDeadLetter(letter: DeadLetter): Promise<void>;
  listDeadLetters(consumer?: string): Promise<DeadLetter[]>;

  /** Recomputes the hash chain from the stored rows. */
  verify(): Promise<VerifyResult>;
  close(): Promise<void>;
}
