import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Change, Revision } from "../../model/change.js";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import { formatRef, type Ref, refKey } from "../../model/ref.js";
import {
  CHECKPOINT_FILE,
  type Checkpoint,
  checkpointProblem,
  readCheckpoint,
  writeCheckpoint,
} from "../checkpoint.js";
import { type ChainHead, checkHeads, expectedHeads, planCommit } from "../commit-plan.js";
import type { CopiedTable, HistoryExporter, RawRow } from "../copy.js";
import { fromSinkRow, isSinkRow, sinkRow } from "../health-rows.js";
import {
  CHANGE_SELECT,
  type ChangeRow,
  changeOf,
  type HeadRow,
  headOf,
  REF_COLUMNS,
  type RefParams,
  refParams,
  STORED_CHANGE_COLUMNS,
  type StoredChangeRow,
  storedRow,
} from "../log-format.js";
import { RefIds } from "../ref-ids.js";
import {
  DEFAULT_SNAPSHOT_EVERY,
  type HeadState,
  type ReplayRow,
  RevisionReader,
  RevisionVerifier,
  type RevisionWalkRow,
  replayAll,
} from "../revisions.js";
import type {
  ChangeQuery,
  CommitBatch,
  ConsumerCursor,
  DeadLetter,
  DeadLetterFilter,
  Head,
  NewDeadLetter,
  OpenProblem,
  Remask,
  ResourceQuery,
  SinkHealthRow,
  SourceHealth,
  Store,
  StoreCapabilities,
  VerifyResult,
} from "../store.js";
import { revisionsResult, verifyRows } from "../verify.js";
import { checkSchema, migrate } from "./migrations.js";

export interface SqliteStoreOptions {
  dir: string;
  /** Defaults to `crwatch.db`. */
  fileName?: string;
  /**
   * Open an existing store without writing anything (read commands, archived backups): no
   * schema is created or upgraded, no checkpoint is written.
   */
  readonly?: boolean;
  /** A full object every this many revisions (decision 0027); 16 by default. */
  snapshotEvery?: number;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const path = join(options.dir, options.fileName ?? "crwatch.db");
  const db = options.readonly ? openReadOnly(path) : openDatabase(options.dir, path);
  try {
    if (options.readonly) {
      configureReader(db);
      checkSchema(db, path);
    } else {
      configure(db);
      migrate(db);
    }
    const every = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    return new SqliteStore(db, options.dir, options.readonly === true, every);
  } catch (err) {
    db.close();
    if (err instanceof CrwatchError) throw err;
    const code = isCorruption(err) ? "CRW_STORE_CORRUPT" : "CRW_STORE_OPEN";
    throw new CrwatchError(code, `cannot open store ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

function openDatabase(dir: string, path: string): Database.Database {
  try {
    mkdirSync(dir, { recursive: true });
    return new Database(path);
  } catch (err) {
    throw new CrwatchError("CRW_STORE_OPEN", `cannot open store ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** Larger histories are opened in place rather than copied into memory. */
const MAX_IN_MEMORY_BYTES = 1024 ** 3;

/**
 * Opens a history so that nothing in its directory changes. A WAL database opened read-only
 * in place still creates `-wal` and `-shm` files (and cannot be opened at all in a read-only
 * directory). When no `-wal` file exists, every committed page is in the main file, so a
 * copy in memory, marked as a rollback-journal database, reads the same history and leaves
 * the archive as it was. With a `-wal` (a running serve, or one that crashed), the WAL must
 * be read in place.
 */
function openReadOnly(path: string): Database.Database {
  try {
    if (!existsSync(`${path}-wal`) && statSync(path).size <= MAX_IN_MEMORY_BYTES) {
      const image = readFileSync(path);
      if (image.length >= 20) {
        image[18] = 1; // file format write version: legacy (no WAL)
        image[19] = 1; // file format read version
      }
      return new Database(image, { readonly: true });
    }
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new CrwatchError("CRW_STORE_OPEN", `cannot open store ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * SQLite's page cache per connection, sized on purpose (negative: KiB): 2 MiB holds the
 * indexes' upper levels and the pages a commit touches; the OS page cache holds the rest,
 * so a larger one would only count against crwatch's resident memory (decisions 0023,
 * 0037: 8 MiB cost ~10 MiB of peak RSS at 100k resources for no commit CPU measured).
 */
const PAGE_CACHE_KIB = -2048;

function configureReader(db: Database.Database): void {
  db.pragma("busy_timeout = 5000");
  db.pragma(`cache_size = ${PAGE_CACHE_KIB}`);
  db.function("crw_ref_contains", { deterministic: true }, refContains);
}

function configure(db: Database.Database): void {
  // Takes effect only when the file is new (before WAL is set). Objects of a few KiB
  // leave much of a 4 KiB page empty; 16 KiB pages cut the bytes written per revision by a
  // third in the commit benchmark.
  db.pragma("page_size = 16384");
  db.pragma("journal_mode = WAL");
  // In WAL mode NORMAL syncs only at checkpoints: a commit is in the WAL file (the OS page
  // cache) when commit() returns, so it survives a process crash or kill -9, which is what
  // crwatch promises. Only an OS crash or power loss can lose the latest commits; FULL
  // would fsync every commit and cost most of the write throughput for that case.
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  // better-sqlite3 turns foreign keys on; the schema declares none since migration 5, and
  // no per-row check belongs on the commit path (the chain and verify vouch for references).
  db.pragma("foreign_keys = OFF");
  db.pragma(`cache_size = ${PAGE_CACHE_KIB}`);
  db.function("crw_ref_contains", { deterministic: true }, refContains);
}

/** Matches formatRef exactly and folds case as JS does (SQLite's LIKE folds ASCII only). */
function refContains(
  source: unknown,
  group: unknown,
  kind: unknown,
  namespace: unknown,
  name: unknown,
  needle: unknown,
): number {
  const ref = {
    source: String(source),
    group: String(group),
    kind: String(kind),
    namespace: String(namespace),
    name: String(name),
  };
  return formatRef(ref).toLowerCase().includes(String(needle).toLowerCase()) ? 1 : 0;
}

interface ChainHeadRow {
  last_seq: number;
  last_hash: string;
}

type SqlParams = Record<string, string | number>;

/** The WHERE clauses and parameters of a change query; every clause is a fixed string. */
function changeWhere(query: ChangeQuery): { where: string[]; params: SqlParams } {
  const where = ["c.seq > @afterSeq"];
  const params: SqlParams = { afterSeq: query.afterSeq ?? 0 };
  const add = (clause: string, name: string, value: string | number | undefined) => {
    if (value === undefined) return;
    where.push(clause);
    params[name] = value;
  };
  add("c.seq < @beforeSeq", "beforeSeq", query.beforeSeq);
  add("c.type IN (SELECT value FROM json_each(@types))", "types", jsonList(query.types));
  add("r.source = @source", "source", query.source);
  add("r.grp = @grp", "grp", query.group);
  add("r.kind = @kind", "kind", query.kind);
  add("r.namespace = @namespace", "namespace", query.namespace);
  add("r.name = @name", "name", query.name);
  add("json_extract(c.actor, '$.name') = @actor", "actor", query.actor);
  add("c.committed_at >= @committedFrom", "committedFrom", query.committedFrom);
  add("c.committed_at < @committedTo", "committedTo", query.committedTo);
  add(
    `EXISTS (SELECT 1 FROM json_each(c.findings) AS f
       WHERE json_extract(f.value, '$.severity') IN (SELECT value FROM json_each(@severities)))`,
    "severities",
    jsonList(query.severities),
  );
  add(
    "crw_ref_contains(r.source, r.grp, r.kind, r.namespace, r.name, @needle)",
    "needle",
    query.refContains || undefined,
  );
  return { where, params };
}

/** Rows newest first, cut after the first snapshot (or at once for a deletion or a miss). */
function downToSnapshot(rows: ReplayRow[], revision: number | undefined): ReplayRow[] {
  const out: ReplayRow[] = [];
  for (const row of rows) {
    out.push(row);
    if (row.object !== null) break;
    if (out.length === 1 && (row.type === "DELETED" || (revision ?? row.revision) !== row.revision))
      break;
  }
  return out;
}

function jsonList(values: readonly string[] | undefined): string | undefined {
  return values?.length ? JSON.stringify(values) : undefined;
}

/** Current resources: each head's revision; row-value comparison pages in ref order. */
function resourceWhere(query: ResourceQuery): { where: string[]; params: SqlParams } {
  const where: string[] = [];
  const params: SqlParams = {};
  const parts = [query.source, query.group, query.kind, query.namespace, query.name];
  REF_COLUMNS.forEach((column, i) => {
    const value = parts[i];
    if (value === undefined) return;
    where.push(`r.${column} = @${column}`);
    params[column] = value;
  });
  if (!query.includeDeleted) where.push("c.type <> 'DELETED'");
  if (query.afterRef) {
    where.push(
      `(r.source, r.grp, r.kind, r.namespace, r.name) > (@a_source, @a_grp, @a_kind, @a_namespace, @a_name)`,
    );
    refParams(query.afterRef).forEach((value, i) => {
      params[`a_${REF_COLUMNS[i]}`] = value;
    });
  }
  return { where, params };
}

/** What one commit transaction returns: the changes, and the ref ids it resolved. */
interface Committed {
  committed: Change[];
  ids: Map<string, number>;
  /** Revisions re-masked by the commit, to drop from the read cache. */
  remasked: { refId: number; revision: number }[];
}

interface DeadLetterParams {
  consumer: string | null;
  state: string | null;
  /** JSON array of ids, or null for all. */
  ids: string | null;
}

const REF_WHERE = "source = ? AND grp = ? AND kind = ? AND namespace = ? AND name = ?";
/** A revision's re-masked copy (alias m; migration 6, decision 0028), usually none. */
const REMASK_JOIN = "LEFT JOIN remasks m ON m.seq = c.seq";
const REMASK_SELECT = "m.object AS remasked, m.content_hash AS remasked_hash";
/** Each ref with its head: the resource change with the highest revision. */
const HEADS_FROM = `refs r JOIN changes c ON c.seq = (SELECT seq FROM changes
  WHERE ref_id = r.id AND revision IS NOT NULL ORDER BY revision DESC LIMIT 1) ${REMASK_JOIN}`;
/** A re-masked head compares by its re-masked hash: ingest sees its new masks as unchanged. */
const HEAD_SELECT = `r.id AS ref_id, r.source, r.grp, r.kind, r.namespace, r.name, c.seq,
  c.revision, c.type, coalesce(m.content_hash, c.content_hash) AS content_hash, c.location`;
const REPLAY_SELECT = `c.seq, c.revision, c.type, c.patch, c.content_hash, c.location, ${REMASK_SELECT}`;
/** As REPLAY_SELECT with the snapshot (alias s): a snapshot's own patch is not read (an ADDED's is the whole object). */
const REPLAY_SNAPSHOT_SELECT = `c.seq, c.revision, c.type,
  CASE WHEN s.object IS NULL THEN c.patch ELSE '[]' END AS patch, c.content_hash, c.location, s.object,
  ${REMASK_SELECT}`;
const DEAD_LETTER_WHERE = `(@consumer IS NULL OR consumer = @consumer)
  AND (@state IS NULL OR state = @state)
  AND (@ids IS NULL OR id IN (SELECT value FROM json_each(@ids)))`;

const REPLAY_DOWN = `SELECT ${REPLAY_SNAPSHOT_SELECT} FROM changes c
  LEFT JOIN snapshots s ON s.seq = c.seq ${REMASK_JOIN}
  WHERE c.ref_id = ? AND c.revision <= ? ORDER BY c.revision DESC`;

function prepareStatements(db: Database.Database, snapshotEvery: number) {
  return {
    insertChange: db.prepare<StoredChangeRow>(
      `INSERT INTO changes (${STORED_CHANGE_COLUMNS.join(", ")})
       VALUES (${STORED_CHANGE_COLUMNS.map((c) => `@${c}`).join(", ")})`,
    ),
    insertSnapshot: db.prepare<[number, string]>(
      "INSERT INTO snapshots (seq, object) VALUES (?, ?)",
    ),
    refId: db.prepare<RefParams, { id: number }>(`SELECT id FROM refs WHERE ${REF_WHERE}`),
    insertRef: db.prepare<RefParams>(
      "INSERT INTO refs (source, grp, kind, namespace, name) VALUES (?, ?, ?, ?, ?)",
    ),
    headOfRef: db.prepare<[number], { revision: number; type: string }>(
      `SELECT revision, type FROM changes WHERE ref_id = ? AND revision IS NOT NULL
       ORDER BY revision DESC LIMIT 1`,
    ),
    upsertProblem: db.prepare<[string, string, string, number]>(
      `INSERT INTO source_problems (source, location, fingerprint, seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (source, location) DO UPDATE SET fingerprint = excluded.fingerprint, seq = excluded.seq`,
    ),
    deleteProblem: db.prepare<[string, string]>(
      "DELETE FROM source_problems WHERE source = ? AND location = ?",
    ),
    upsertStream: db.prepare<[string, string, string, string]>(
      `INSERT INTO source_streams (source, stream, cursor, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (source, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
    ),
    getChainHead: db.prepare<[], ChainHeadRow>(
      "SELECT last_seq, last_hash FROM chain_head WHERE id = 1",
    ),
    setChainHead: db.prepare<[number, string]>(
      `INSERT INTO chain_head (id, last_seq, last_hash) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash`,
    ),
    // LEFT JOIN: a change whose ref row is gone reads back with null ref columns and fails
    // its hash, instead of vanishing from the walk.
    allChanges: db.prepare<[], ChangeRow>(
      `SELECT ${CHANGE_SELECT} FROM changes c LEFT JOIN refs r ON r.id = c.ref_id ORDER BY c.seq`,
    ),
    revisionWalk: db.prepare<[], RevisionWalkRow>(
      `SELECT c.ref_id, ${REPLAY_SELECT}, c.prev_revision, s.object, r.source, r.grp, r.kind,
         r.namespace, r.name
       FROM changes c LEFT JOIN snapshots s ON s.seq = c.seq LEFT JOIN refs r ON r.id = c.ref_id
         ${REMASK_JOIN}
       WHERE c.revision IS NOT NULL ORDER BY c.ref_id, c.revision`,
    ),
    snapshotCount: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM snapshots"),
    remaskCount: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM remasks"),
    headSeqOfRef: db.prepare<[number], { seq: number; revision: number; type: string }>(
      `SELECT seq, revision, type FROM changes WHERE ref_id = ? AND revision IS NOT NULL
       ORDER BY revision DESC LIMIT 1`,
    ),
    putRemask: db.prepare<[number, string, string]>(
      `INSERT INTO remasks (seq, object, content_hash) VALUES (?, ?, ?)
       ON CONFLICT (seq) DO UPDATE SET object = excluded.object, content_hash = excluded.content_hash`,
    ),
    getChange: db.prepare<[number], ChangeRow>(
      `SELECT ${CHANGE_SELECT} FROM changes c JOIN refs r ON r.id = c.ref_id WHERE c.seq = ?`,
    ),
    lastSeq: db.prepare<[], { seq: number | null }>("SELECT max(seq) AS seq FROM changes"),
    loadHeads: db.prepare<[string], HeadRow>(
      `SELECT ${HEAD_SELECT} FROM ${HEADS_FROM} WHERE r.source = ?
       ORDER BY r.grp, r.kind, r.namespace, r.name`,
    ),
    // Newest first, so the walk stops at the first snapshot it meets: K+1 rows, or all. The
    // limit is written into the SQL: as a parameter it doubled the statement's cost.
    replayDown: db.prepare<[number, number], ReplayRow>(
      `${REPLAY_DOWN} LIMIT ${Math.max(1, snapshotEvery) + 1}`,
    ),
    replayDownAll: db.prepare<[number, number], ReplayRow>(REPLAY_DOWN),
    replayAfter: db.prepare<[number, number, number], ReplayRow>(
      `SELECT ${REPLAY_SELECT}, NULL AS object FROM changes c ${REMASK_JOIN}
       WHERE c.ref_id = ? AND c.revision > ? AND c.revision <= ? ORDER BY c.revision`,
    ),
    replayAll: db.prepare<[number], ReplayRow>(
      `SELECT ${REPLAY_SNAPSHOT_SELECT} FROM changes c LEFT JOIN snapshots s ON s.seq = c.seq
         ${REMASK_JOIN}
       WHERE c.ref_id = ? AND c.revision IS NOT NULL ORDER BY c.revision`,
    ),
    getStreams: db.prepare<[string], { stream: string; cursor: string }>(
      "SELECT stream, cursor FROM source_streams WHERE source = ? ORDER BY stream",
    ),
    upsertHealth: db.prepare<[string, string, string, string, number]>(
      `INSERT INTO source_health (source, status, message, updated_at, attempts) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (source) DO UPDATE SET status = excluded.status, message = excluded.message,
         updated_at = excluded.updated_at, attempts = excluded.attempts`,
    ),
    listHealth: db.prepare<[], SourceHealth>(
      `SELECT source, status, message, updated_at AS updatedAt, attempts
       FROM source_health ORDER BY source`,
    ),
    openProblems: db.prepare<[string], OpenProblem>(
      "SELECT location, fingerprint, seq FROM source_problems WHERE source = ? ORDER BY location",
    ),
    getConsumerCursor: db.prepare<[string], { seq: number }>(
      "SELECT seq FROM consumer_cursors WHERE consumer = ?",
    ),
    listConsumerCursors: db.prepare<[], ConsumerCursor>(
      "SELECT consumer, seq, updated_at AS updatedAt FROM consumer_cursors ORDER BY consumer",
    ),
    setConsumerCursor: db.prepare<[string, number, string]>(
      `INSERT INTO consumer_cursors (consumer, seq, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
    ),
    addDeadLetter: db.prepare<[string, number, string, number, string]>(
      "INSERT INTO dead_letters (consumer, seq, error, attempts, created_at) VALUES (?, ?, ?, ?, ?)",
    ),
    listDeadLetters: db.prepare<[DeadLetterParams], DeadLetter>(
      `SELECT id, consumer, seq, error, attempts, created_at AS createdAt, state FROM dead_letters
       WHERE ${DEAD_LETTER_WHERE} ORDER BY id`,
    ),
    requeueDeadLetters: db.prepare<[DeadLetterParams]>(
      `UPDATE dead_letters SET state = 'retry' WHERE ${DEAD_LETTER_WHERE}`,
    ),
    failDeadLetter: db.prepare<[string, number, number]>(
      "UPDATE dead_letters SET state = 'dead', error = ?, attempts = ? WHERE id = ?",
    ),
    getMeta: db.prepare<[string], { value: string }>("SELECT value FROM store_meta WHERE key = ?"),
    setMeta: db.prepare<[string, string]>(
      `INSERT INTO store_meta (key, value) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    ),
    removeDeadLetters: db.prepare<[DeadLetterParams]>(
      `DELETE FROM dead_letters WHERE ${DEAD_LETTER_WHERE}`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

const DEFAULT_LIMIT = 1000;
const EXPORT_PAGE = 500;

function deadLetterParams(filter: DeadLetterFilter = {}): DeadLetterParams {
  return {
    consumer: filter.consumer ?? null,
    state: filter.state ?? null,
    ids: filter.ids ? JSON.stringify(filter.ids) : null,
  };
}

function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB";
}

/** The SQLite dialect: runs the dialect-neutral commit plan and reads rows back. */
export class SqliteStore implements Store, HistoryExporter {
  readonly capabilities: StoreCapabilities = {
    multiWriter: false,
    crossProcessNotify: false,
    local: true,
  };
  private readonly db: Database.Database;
  private readonly stmts: Statements;
  // IMMEDIATE takes the write lock up front, so the chain head read at the start cannot be
  // overtaken by another connection before the rows that depend on it are written.
  private readonly commitTx: (batch: CommitBatch) => Committed;
  private readonly advanceTx: (consumer: string, seq: number, letters: NewDeadLetter[]) => void;
  private readonly verifyTx: () => VerifyResult;
  private lastCheckpointAt = 0;
  private readonly queries = new Map<string, Database.Statement<[SqlParams], unknown>>();
  private readonly refIds = new RefIds();
  private readonly revisions: RevisionReader;

  constructor(
    db: Database.Database,
    private readonly dir: string,
    private readonly readonly: boolean,
    private readonly snapshotEvery: number = DEFAULT_SNAPSHOT_EVERY,
  ) {
    this.db = db;
    this.stmts = prepareStatements(db, snapshotEvery);
    this.revisions = new RevisionReader(
      {
        fromSnapshot: async (refId, revision) => this.rowsFromSnapshot(refId, revision),
        after: async (refId, after, revision) => this.stmts.replayAfter.all(refId, after, revision),
      },
      snapshotEvery,
    );
    const commitTx = db.transaction((batch: CommitBatch) => this.commitSync(batch));
    this.commitTx = (batch) => commitTx.immediate(batch);
    const advanceTx = db.transaction(this.advanceSync.bind(this));
    this.advanceTx = (consumer, seq, letters) => advanceTx.immediate(consumer, seq, letters);
    // One read transaction, so the head and the rows are one snapshot.
    this.verifyTx = db.transaction(() => this.verifySync());
  }

  private verifySync(): VerifyResult {
    try {
      return this.verifyUnsafe();
    } catch (err) {
      if (!isCorruption(err)) throw err;
      const reason = `the database file is damaged: ${errorMessage(err)}`;
      return { ok: false, checked: 0, firstBadSeq: 0, reason, code: "CRW_STORE_CORRUPT" };
    }
  }

  private verifyUnsafe(): VerifyResult {
    const damage = this.quickCheck();
    if (damage)
      return { ok: false, checked: 0, firstBadSeq: 0, reason: damage, code: "CRW_STORE_CORRUPT" };
    const head = this.chainHead();
    let chain = verifyRows(this.stmts.allChanges.iterate(), head);
    if (chain.ok) {
      const revisions = new RevisionVerifier();
      for (const row of this.stmts.revisionWalk.iterate()) if (!revisions.feed(row)) break;
      chain = revisionsResult(
        chain,
        revisions,
        this.stmts.snapshotCount.get()?.n ?? 0,
        this.stmts.remaskCount.get()?.n ?? 0,
      );
    }
    if (!chain.ok || !head) return chain;
    const lost = this.checkpointProblem(head);
    if (!lost) return chain;
    return {
      ok: false,
      checked: chain.checked,
      firstBadSeq: head.lastSeq + 1,
      reason: lost,
      code: "CRW_STORE_TRUNCATED",
    };
  }

  /** SQLite's own check of the file's structure; undefined when it is sound. */
  private quickCheck(): string | undefined {
    const rows = this.db.pragma("quick_check(20)") as { quick_check: string }[];
    const problems = rows.map((r) => r.quick_check).filter((r) => r !== "ok");
    return problems.length > 0 ? `the database file is damaged: ${problems.join("; ")}` : undefined;
  }

  private checkpointProblem(head: ChainHead): string | undefined {
    const path = join(this.dir, CHECKPOINT_FILE);
    let checkpoint: Checkpoint | undefined;
    try {
      checkpoint = readCheckpoint(path);
    } catch (err) {
      return errorMessage(err);
    }
    if (!checkpoint) return undefined;
    return checkpointProblem(checkpoint, head, this.stmts.getChange.get(checkpoint.lastSeq)?.hash);
  }

  /**
   * Refuses to write to a damaged file or to a log that lost entries it once had: writing on
   * would bury the loss under new entries. Called by `serve` (write mode) at start.
   */
  async checkBeforeWriting(): Promise<void> {
    const damage = this.quickCheck();
    if (damage) throw new CrwatchError("CRW_STORE_CORRUPT", damage);
    const head = this.chainHead();
    const lost = head && this.checkpointProblem(head);
    if (lost) {
      throw new CrwatchError(
        "CRW_STORE_TRUNCATED",
        `${lost}. Restore the data directory from a backup, or move ${CHECKPOINT_FILE} away to accept the loss (it will be recorded from here on)`,
      );
    }
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.stmts.getMeta.get(key)?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.stmts.setMeta.run(key, value);
  }

  async loadHeads(source: string): Promise<Head[]> {
    return this.stmts.loadHeads.all(source).map(headOf);
  }

  async getRevision(ref: Ref, revision?: number): Promise<Revision | undefined> {
    const refId = this.findRefId(ref);
    return refId === undefined ? undefined : this.revisions.read(refId, ref, revision);
  }

  async listRevisions(ref: Ref): Promise<Revision[]> {
    const refId = this.findRefId(ref);
    return refId === undefined ? [] : replayAll(ref, this.stmts.replayAll.all(refId));
  }

  /** A ref's id, from memory or its row; undefined when the store has never seen it. */
  private findRefId(ref: Ref): number | undefined {
    const key = refKey(ref);
    const known = this.refIds.get(key);
    if (known !== undefined) return known;
    return this.stmts.refId.get(...refParams(ref))?.id;
  }

  /**
   * Newest first down to the first snapshot, then in revision order (see RevisionRows). A
   * snapshot is at most K rows back unless K was larger when the rows were written: the
   * first try reads K+1 rows, the second all of them.
   */
  private rowsFromSnapshot(refId: number, revision: number | undefined): ReplayRow[] {
    const upTo = revision ?? Number.MAX_SAFE_INTEGER;
    const limit = Math.max(1, this.snapshotEvery) + 1;
    const rows = downToSnapshot(this.stmts.replayDown.all(refId, upTo), revision);
    if (rows.length < limit || rows[rows.length - 1]?.object !== null) return rows.reverse();
    return downToSnapshot(this.stmts.replayDownAll.all(refId, upTo), revision).reverse();
  }

  async commit(batch: CommitBatch): Promise<Change[]> {
    try {
      const { committed, ids, remasked } = this.commitTx(batch);
      this.refIds.remember(ids);
      for (const { refId, revision } of remasked) this.revisions.forget(refId, revision);
      if (committed.length > 0) this.saveCheckpoint(false);
      return committed;
    } catch (err) {
      if (err instanceof CrwatchError) throw err;
      throw new CrwatchError(
        "CRW_STORE_WRITE",
        `commit of ${batch.changes.length} change(s) failed: ${String(err)}`,
        { cause: err },
      );
    }
  }

  async readChanges(query: ChangeQuery): Promise<Change[]> {
    const { where, params } = changeWhere(query);
    const order = query.order === "desc" ? "DESC" : "ASC";
    const sql = `SELECT ${CHANGE_SELECT} FROM changes c JOIN refs r ON r.id = c.ref_id
      WHERE ${where.join(" AND ")} ORDER BY c.seq ${order} LIMIT @limit`;
    params.limit = Math.max(0, query.limit ?? DEFAULT_LIMIT);
    return this.cached<ChangeRow>(sql).all(params).map(changeOf);
  }

  /** Each head's revision, rebuilt through the revision reader (one read per resource). */
  async listResources(query: ResourceQuery): Promise<Revision[]> {
    const { where, params } = resourceWhere(query);
    const sql = `SELECT ${HEAD_SELECT} FROM ${HEADS_FROM}
      ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY ${REF_COLUMNS.map((c) => `r.${c}`).join(", ")} LIMIT @limit`;
    params.limit = Math.max(0, query.limit ?? DEFAULT_LIMIT);
    const heads = this.cached<HeadRow>(sql).all(params);
    const out: Revision[] = [];
    for (const head of heads) out.push(await this.revisions.head(head));
    return out;
  }

  /** Filtered queries are built from fixed clauses; each distinct shape is prepared once. */
  private cached<Row>(sql: string): Database.Statement<[SqlParams], Row> {
    let stmt = this.queries.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<[SqlParams], unknown>(sql);
      this.queries.set(sql, stmt);
    }
    return stmt as Database.Statement<[SqlParams], Row>;
  }

  async getChange(seq: number): Promise<Change | undefined> {
    const row = this.stmts.getChange.get(seq);
    return row && changeOf(row);
  }

  async lastSeq(): Promise<number> {
    return this.stmts.lastSeq.get()?.seq ?? 0;
  }

  async getSourceCursors(source: string): Promise<Record<string, string>> {
    const rows = this.stmts.getStreams.all(source);
    return Object.fromEntries(rows.map((r) => [r.stream, r.cursor]));
  }

  async setSourceHealth(health: SourceHealth): Promise<void> {
    const { source, status, message, updatedAt, attempts } = health;
    this.stmts.upsertHealth.run(source, status, message, updatedAt, attempts ?? 0);
  }

  async listSourceHealth(): Promise<SourceHealth[]> {
    return this.stmts.listHealth.all().filter((row) => !isSinkRow(row));
  }

  async setSinkHealth(health: SinkHealthRow): Promise<void> {
    await this.setSourceHealth(sinkRow(health));
  }

  async listSinkHealth(): Promise<SinkHealthRow[]> {
    return this.stmts.listHealth.all().filter(isSinkRow).map(fromSinkRow);
  }

  async openProblems(source: string): Promise<OpenProblem[]> {
    return this.stmts.openProblems.all(source);
  }

  async getConsumerCursor(consumer: string): Promise<number> {
    return this.stmts.getConsumerCursor.get(consumer)?.seq ?? 0;
  }

  async listConsumerCursors(): Promise<ConsumerCursor[]> {
    return this.stmts.listConsumerCursors.all();
  }

  async setConsumerCursor(consumer: string, seq: number): Promise<void> {
    this.stmts.setConsumerCursor.run(consumer, seq, new Date().toISOString());
  }

  async advanceConsumer(consumer: string, seq: number, letters: NewDeadLetter[]): Promise<void> {
    this.advanceTx(consumer, seq, letters);
  }

  async listDeadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]> {
    return this.stmts.listDeadLetters.all(deadLetterParams(filter));
  }

  async requeueDeadLetters(filter: DeadLetterFilter): Promise<number> {
    return this.stmts.requeueDeadLetters.run(deadLetterParams(filter)).changes;
  }

  async failDeadLetter(id: number, error: string, attempts: number): Promise<void> {
    this.stmts.failDeadLetter.run(error, attempts, id);
  }

  async removeDeadLetters(filter: DeadLetterFilter): Promise<number> {
    return this.stmts.removeDeadLetters.run(deadLetterParams(filter)).changes;
  }

  async verify(): Promise<VerifyResult> {
    return this.verifyTx();
  }

  /** Pages by rowid (insertion order; seq for changes), so no iterator stays open across awaits. */
  async *exportRows(table: CopiedTable): AsyncIterable<RawRow[]> {
    const page = this.db.prepare<[number], RawRow & { _rowid: number }>(
      `SELECT rowid AS _rowid, ${table.columns.join(", ")} FROM ${table.name}
       WHERE rowid > ? ORDER BY rowid LIMIT ${EXPORT_PAGE}`,
    );
    for (let after = 0; ; ) {
      const rows = page.all(after);
      if (rows.length > 0) {
        after = rows[rows.length - 1]?._rowid ?? after;
        yield rows.map(({ _rowid, ...row }) => row);
      }
      if (rows.length < EXPORT_PAGE) return;
    }
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.saveCheckpoint(true);
    this.db.close();
  }

  /** At most once a second while committing, and at close. */
  private saveCheckpoint(force: boolean): void {
    if (this.readonly) return;
    const now = Date.now();
    if (!force && now - this.lastCheckpointAt < 1000) return;
    const head = this.chainHead();
    if (!head) return;
    try {
      writeCheckpoint(this.dir, head, new Date(now).toISOString());
      this.lastCheckpointAt = now;
    } catch {
      // A checkpoint that cannot be written weakens tamper evidence but must not stop commits.
    }
  }

  private commitSync(batch: CommitBatch): Committed {
    const head = this.chainHead();
    if (!head) throw new CrwatchError("CRW_STORE_CHAIN_BROKEN", "the chain_head row is missing");
    // Before the changes: a change of the same ref later in the batch was diffed against it.
    const remasked = this.remaskHeads(batch.remasks ?? []);
    const { ids, fresh, perChange } = this.resolveRefs(batch);
    const heads = this.currentHeads(batch, ids, fresh);
    const now = new Date().toISOString();
    const plan = planCommit(batch, head, now, { snapshotEvery: this.snapshotEvery, heads });
    plan.changes.forEach((row, i) => {
      this.stmts.insertChange.run(storedRow(row, perChange[i] as number));
    });
    for (const { seq, object } of plan.snapshots) this.stmts.insertSnapshot.run(seq, object);
    for (const p of plan.problems)
      this.stmts.upsertProblem.run(p.source, p.location, p.fingerprint, p.seq);
    for (const { source, stream, cursor } of batch.cursors)
      this.stmts.upsertStream.run(source, stream, cursor, now);
    for (const { source, location } of batch.resolvedProblems)
      this.stmts.deleteProblem.run(source, location);
    for (const { key, value } of batch.meta ?? []) this.stmts.setMeta.run(key, value);
    if (plan.changes.length > 0) this.stmts.setChainHead.run(plan.head.lastSeq, plan.head.lastHash);
    return { committed: plan.committed, ids, remasked };
  }

  /** Each re-masked copy beside its head's change row, while that revision is the live head. */
  private remaskHeads(remasks: readonly Remask[]): { refId: number; revision: number }[] {
    const done: { refId: number; revision: number }[] = [];
    for (const { ref, revision, objectJson, contentHash } of remasks) {
      const refId = this.findRefId(ref);
      const head = refId === undefined ? undefined : this.stmts.headSeqOfRef.get(refId);
      if (refId === undefined || !head || head.revision !== revision || head.type === "DELETED")
        continue;
      this.stmts.putRemask.run(head.seq, objectJson, contentHash);
      done.push({ refId, revision });
    }
    return done;
  }

  /**
   * Every ref of the batch as an id: from memory, its row, or a new row (`fresh`); also the
   * id of each change in batch order.
   */
  private resolveRefs(batch: CommitBatch): {
    ids: Map<string, number>;
    fresh: Set<string>;
    perChange: number[];
  } {
    const ids = new Map<string, number>();
    const fresh = new Set<string>();
    const perChange: number[] = [];
    for (const { ref } of batch.changes) {
      const key = refKey(ref);
      const known = ids.get(key);
      if (known !== undefined) {
        perChange.push(known);
        continue;
      }
      let id = this.refIds.get(key);
      if (id === undefined) {
        const params = refParams(ref);
        id = this.stmts.refId.get(...params)?.id;
        if (id === undefined) {
          id = Number(this.stmts.insertRef.run(...params).lastInsertRowid);
          fresh.add(key);
        }
      }
      ids.set(key, id);
      perChange.push(id);
    }
    return { ids, fresh, perChange };
  }

  /**
   * The head of each ref the batch changes (one indexed lookup per ref that had a history
   * before this commit), checked against what its first change expects: a stale writer gets
   * CRW_STORE_CONFLICT. The plan uses them to decide which revisions get a snapshot.
   */
  private currentHeads(
    batch: CommitBatch,
    ids: Map<string, number>,
    fresh: Set<string>,
  ): Map<string, HeadState> {
    const expected = expectedHeads(batch);
    const heads = new Map<string, HeadState>();
    for (const { key } of expected) {
      if (fresh.has(key)) continue;
      const row = this.stmts.headOfRef.get(ids.get(key) as number);
      if (row) heads.set(key, { revision: row.revision, deleted: row.type === "DELETED" });
    }
    checkHeads(expected, heads);
    return heads;
  }

  private advanceSync(consumer: string, seq: number, letters: NewDeadLetter[]): void {
    const now = new Date().toISOString();
    for (const l of letters)
      this.stmts.addDeadLetter.run(l.consumer, l.seq, l.error, l.attempts, now);
    this.stmts.setConsumerCursor.run(consumer, seq, now);
  }

  private chainHead(): ChainHead | undefined {
    const row = this.stmts.getChainHead.get();
    return row && { lastSeq: row.last_seq, lastHash: row.last_hash };
  }
}
