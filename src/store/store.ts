import type { Change, ChangeType, NewChange, Revision, Severity } from "../model/change.js";
import type { ErrorCode } from "../model/errors.js";
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

/** A source position to save with the changes: one per stream (watched kind, branch …). */
export interface CursorUpdate {
  source: string;
  stream: string;
  cursor: string;
}

/**
 * One transaction's worth of writes. Each resource change's `previousRevision` is the head it
 * expects; the first change of a ref whose head has moved fails the whole commit with
 * CRW_STORE_CONFLICT.
 */
export interface CommitBatch {
  changes: NewChange[];
  /** Source cursors to save in the same transaction as the changes. */
  cursors: CursorUpdate[];
  /** Locations whose open problem is resolved (they read cleanly again). */
  resolvedProblems: { source: string; location: string }[];
  /**
   * The leases this writer holds for what the batch touches (several replicas): the commit
   * fails with CRW_STORE_CONFLICT unless each still has its token and has not expired.
   * Dialects with one writer per store (SQLite, by its directory lock) have no leases and
   * ignore them.
   */
  fences?: Fence[];
  /**
   * Head revisions re-masked after a mask key rotation: the same content with new masks,
   * kept beside the committed object (no change row; verify checks that only masks differ).
   * Applied before the batch's changes (a change after it in the batch was diffed against
   * it); skipped for a ref whose head is not that revision.
   */
  remasks?: Remask[];
  /** Store facts to set in the same transaction (the mask key fingerprint at a rotation). */
  meta?: { key: string; value: string }[];
}

/** One head revision's object under a new mask key. */
export interface Remask {
  ref: Ref;
  revision: number;
  objectJson: string;
  contentHash: string;
}

/** A lease's name and the token its holder got: checked inside the commit. */
export interface Fence {
  lease: string;
  token: number;
}

/** Who drives a source or a sink while several replicas share one store. */
export interface Lease {
  /** e.g. `source:cluster-a`, `sink:webhook`. */
  name: string;
  /** The replica holding it. */
  holder: string;
  /** Grows by one at each change of holder (or lapse): older tokens are fenced off. */
  token: number;
  expiresAt: string;
}

/**
 * Leases with expiry and a fencing token, kept in the store itself so a replica's lease and
 * its commits are checked against one another in one transaction.
 */
export interface LeaseManager {
  /** This process's name as a holder, and how long its leases last unrenewed. */
  readonly settings: { holder: string; ttlMs: number };
  /**
   * Takes the lease when it is free or expired (a new token), renews it (same token) when
   * this holder has it; undefined when another holder's lease is still live.
   */
  acquire(name: string, holder: string, ttlMs: number): Promise<Lease | undefined>;
  /** Lets the lease lapse now; the token is kept, so the next holder's is higher. */
  release(lease: Lease): Promise<void>;
  /** Every lease, for `status`: which replica owns what, until when. */
  list(): Promise<Lease[]>;
}

/**
 * Which changes to read. Every field that is set must hold (an empty list is no filter);
 * store/change-query.ts holds the same semantics as a predicate, which live watch streams
 * apply to changes in memory, so a stream's catch-up (read here) and its live part agree.
 */
export interface ChangeQuery {
  afterSeq?: number;
  /** Only changes with seq < beforeSeq (a page cursor when reading newest first). */
  beforeSeq?: number;
  /** Case-insensitive substring of the formatted ref (`source:Kind.group ns/name`). */
  refContains?: string;
  types?: ChangeType[];
  /** Exact matches on the parts of the ref. */
  source?: string;
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  /** The actor's name, exactly. */
  actor?: string;
  /** Changes with at least one finding of one of these severities. */
  severities?: Severity[];
  /** committedAt >= committedFrom, as `Date.toISOString()` text (the stored form). */
  committedFrom?: string;
  /** committedAt < committedTo, as `Date.toISOString()` text. */
  committedTo?: string;
  /** `asc` (default): oldest first; `desc`: newest first. */
  order?: "asc" | "desc";
  limit?: number;
}

/** Which current resources to list: the latest revision of each ref, in ref order. */
export interface ResourceQuery {
  source?: string;
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  /** Also list refs whose latest revision is a deletion (object null). */
  includeDeleted?: boolean;
  /** Page cursor: refs after this one in (source, group, kind, namespace, name) order. */
  afterRef?: Ref;
  limit?: number;
}

export interface SourceHealth {
  source: string;
  status: "starting" | "ok" | "degraded" | "failed" | "stopped";
  message: string;
  updatedAt: string;
  /** Restarts since the source last became ready (0 when it never failed). */
  attempts?: number;
}

/** How a sink's deliveries go, as the dispatcher last saw it. */
export interface SinkHealthRow {
  sink: string;
  status: "ok" | "degraded";
  message: string;
  updatedAt: string;
}

export interface ConsumerCursor {
  consumer: string;
  seq: number;
  updatedAt: string;
}

export type DeadLetterState = "dead" | "retry";

/** A change a consumer gave up on, kept until it is retried or dropped. */
export interface DeadLetter {
  id: number;
  consumer: string;
  seq: number;
  error: string;
  attempts: number;
  createdAt: string;
  /** `retry` once `crwatch dead-letters retry` asked for another delivery. */
  state: DeadLetterState;
}

export type NewDeadLetter = Pick<DeadLetter, "consumer" | "seq" | "error" | "attempts">;

export interface DeadLetterFilter {
  consumer?: string;
  state?: DeadLetterState;
  ids?: number[];
}

export type VerifyResult =
  | { ok: true; checked: number; lastSeq: number }
  | { ok: false; checked: number; firstBadSeq: number; reason: string; code?: ErrorCode };

/**
 * Dialect differences are declared, not tested for with `if (sqlite)` (see Kysely): callers
 * read a capability and choose.
 */
export interface StoreCapabilities {
  /** Several processes may write through this store at once. */
  multiWriter: boolean;
  /** Other processes can be notified of commits (otherwise readers poll). */
  crossProcessNotify: boolean;
  /** Lives in a data directory on this machine (a mask key file may sit beside it). */
  local: boolean;
}

/** The change log: appended to by ingest, read by everyone. */
export interface ChangeLog {
  /**
   * Appends the changes (assigning seq and hash), writes their revisions, moves heads,
   * saves cursors and opens/resolves problems, all in one transaction. Returns the
   * committed changes in seq order. Fails with CRW_STORE_CONFLICT when a ref's head is not
   * the one its first change expects.
   */
  commit(batch: CommitBatch): Promise<Change[]>;
  readChanges(query: ChangeQuery): Promise<Change[]>;
  getChange(seq: number): Promise<Change | undefined>;
  lastSeq(): Promise<number>;
  /** A revision of a ref; the latest when `revision` is omitted. */
  getRevision(ref: Ref, revision?: number): Promise<Revision | undefined>;
  listRevisions(ref: Ref): Promise<Revision[]>;
  /** The latest revision of each matching ref (its head), ordered by ref. */
  listResources(query: ResourceQuery): Promise<Revision[]>;
  /** Recomputes the hash chain from the stored rows. */
  verify(): Promise<VerifyResult>;
}

/** What sources left behind: heads, positions, health and open problems. */
export interface SourceLedger {
  /** Latest revision of every ref of one source, tombstones included. */
  loadHeads(source: string): Promise<Head[]>;
  /** The position of each of a source's streams, as last committed. */
  getSourceCursors(source: string): Promise<Record<string, string>>;
  setSourceHealth(health: SourceHealth): Promise<void>;
  listSourceHealth(): Promise<SourceHealth[]>;
  openProblems(source: string): Promise<OpenProblem[]>;
}

/** What consumers (sinks, watch streams) keep: how far they got, and what they gave up on. */
export interface ConsumerLedger {
  /** How each sink's deliveries go (for `status` and the API). */
  setSinkHealth(health: SinkHealthRow): Promise<void>;
  listSinkHealth(): Promise<SinkHealthRow[]>;
  getConsumerCursor(consumer: string): Promise<number>;
  setConsumerCursor(consumer: string, seq: number): Promise<void>;
  /**
   * Moves the cursor and records the batch's dead letters in one transaction. With `fences`
   * (several replicas), only while those leases are still this writer's (see CommitBatch).
   */
  advanceConsumer(
    consumer: string,
    seq: number,
    deadLetters: NewDeadLetter[],
    fences?: Fence[],
  ): Promise<void>;
  listConsumerCursors(): Promise<ConsumerCursor[]>;
  listDeadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  /** Marks matching dead letters for another delivery; returns how many. */
  requeueDeadLetters(filter: DeadLetterFilter): Promise<number>;
  /** A requeued letter failed again: back to `dead` with the new error. */
  failDeadLetter(id: number, error: string, attempts: number): Promise<void>;
  /** Removes matching dead letters (delivered on retry, or dropped); returns how many. */
  removeDeadLetters(filter: DeadLetterFilter): Promise<number>;
}

/**
 * The one store interface, split by who uses it. Every method is async so that a network
 * dialect (PostgreSQL) fits behind it. The contract suite in store/contract.ts runs against
 * every dialect.
 */
export interface Store extends ChangeLog, SourceLedger, ConsumerLedger {
  readonly capabilities: StoreCapabilities;
  /** Small facts about the store itself (the mask key's fingerprint). */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /**
   * Refuses (with a CrwatchError) to write to a store that is damaged or has lost entries it
   * once had; `serve` calls it before starting.
   */
  checkBeforeWriting(): Promise<void>;
  /**
   * Present when `capabilities.crossProcessNotify`: calls `listener` with the new last seq
   * after any process commits to this store. Resolves once listening; the returned function
   * stops it.
   */
  watchCommits?(listener: (lastSeq: number) => void): Promise<() => Promise<void>>;
  /** Present on stores that several replicas share: who drives which source and sink. */
  readonly leases?: LeaseManager;
  close(): Promise<void>;
}

/**
 * How a command uses the store: `serve` writes (and takes the writer lock), read commands
 * read (nothing is written), `maintain` edits an existing store's ledgers beside a running
 * serve (`dead-letters retry`), `diff` uses a throwaway one.
 */
export interface StoreDeps {
  mode: "write" | "read" | "maintain" | "scratch";
}

export interface OpenedStore {
  store: Store;
  /** Releases what opening took (the writer lock); call after `store.close()`. */
  release(): Promise<void>;
}
