import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { type ChainRow, chainHash, GENESIS_HASH } from "../../core/hash-chain.js";
import {
  type Change,
  type ChangeType,
  type Finding,
  isNotice,
  type NewChange,
  type Notice,
  type PatchOp,
  type Revision,
} from "../../model/change.js";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import type { JsonObject } from "../../model/json.js";
import type { Actor, Cause, Location } from "../../model/observation.js";
import { formatRef, type Ref } from "../../model/ref.js";
import type {
  ChangeQuery,
  CommitBatch,
  ConsumerCursor,
  DeadLetter,
  Head,
  OpenProblem,
  SourceHealth,
  Store,
  StoreCapabilities,
  VerifyResult,
} from "../store.js";
import { migrate } from "./migrations.js";

export interface SqliteStoreOptions {
  dir: string;
  /** Defaults to `crwatch.db`. */
  fileName?: string;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const path = join(options.dir, options.fileName ?? "crwatch.db");
  const db = openDatabase(options.dir, path);
  try {
    configure(db);
    migrate(db);
    return new SqliteStore(db);
  } catch (err) {
    db.close();
    if (err instanceof CrwatchError) throw err;
    throw new CrwatchError("CRW_STORE_OPEN", `cannot open store ${path}: ${errorMessage(err)}`, {
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
  db.pragma("foreign_keys = ON");
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

/** One row of `changes`, as SQLite returns it. */
interface ChangeRow {
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

interface RevisionRow {
  source: string;
  grp: string;
  kind: string;
  namespace: string;
  name: string;
  revision: number;
  seq: number;
  object: string | null;
  content_hash: string | null;
  location: string | null;
}

interface HeadRow {
  source: string;
  grp: string;
  kind: string;
  namespace: string;
  name: string;
  revision: number;
  content_hash: string | null;
  deleted: number;
  location: string | null;
}

interface ChainHeadRow {
  last_seq: number;
  last_hash: string;
}

type RefParams = [string, string, string, string, string];

interface ReadParams {
  afterSeq: number;
  /** JSON array of types, or null for all. */
  types: string | null;
  needle: string | null;
  limit: number;
}

/**
 * The hashed columns in their fixed order. Changing this order (or the set) changes every
 * hash: it needs a new chain format, not an edit.
 */
const CHAIN_COLUMNS =
  "seq, type, source, grp, kind, namespace, name, revision, prev_revision, actor, cause, " +
  "location, observed_at, committed_at, patch, summary, findings, notice, content_hash";

function chainRowOf(r: ChangeRow): ChainRow {
  return [
    r.seq,
    r.type,
    r.source,
    r.grp,
    r.kind,
    r.namespace,
    r.name,
    r.revision,
    r.prev_revision,
    r.actor,
    r.cause,
    r.location,
    r.observed_at,
    r.committed_at,
    r.patch,
    r.summary,
    r.findings,
    r.notice,
    r.content_hash,
  ];
}

const REF_WHERE = "source = ? AND grp = ? AND kind = ? AND namespace = ? AND name = ?";

function prepareStatements(db: Database.Database) {
  return {
    insertChange: db.prepare(
      `INSERT INTO changes (${CHAIN_COLUMNS}, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertRevision: db.prepare(
      `INSERT INTO revisions (source, grp, kind, namespace, name, revision, seq, object, content_hash, location)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    upsertHead: db.prepare(
      `INSERT INTO heads (source, grp, kind, namespace, name, revision, content_hash, deleted, location)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (source, grp, kind, namespace, name) DO UPDATE SET
         revision = excluded.revision, content_hash = excluded.content_hash,
         deleted = excluded.deleted, location = excluded.location`,
    ),
    upsertProblem: db.prepare<[string, string, string, number]>(
      `INSERT INTO source_problems (source, location, fingerprint, seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (source, location) DO UPDATE SET fingerprint = excluded.fingerprint, seq = excluded.seq`,
    ),
    deleteProblem: db.prepare<[string, string]>(
      "DELETE FROM source_problems WHERE source = ? AND location = ?",
    ),
    upsertSourceCursor: db.prepare<[string, string, string]>(
      `INSERT INTO source_cursors (source, cursor, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
    ),
    getChainHead: db.prepare<[], ChainHeadRow>(
      "SELECT last_seq, last_hash FROM chain_head WHERE id = 1",
    ),
    setChainHead: db.prepare<[number, string]>(
      `INSERT INTO chain_head (id, last_seq, last_hash) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash`,
    ),
    readChanges: db.prepare<[ReadParams], ChangeRow>(
      `SELECT * FROM changes WHERE seq > @afterSeq
         AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
         AND (@needle IS NULL OR crw_ref_contains(source, grp, kind, namespace, name, @needle))
       ORDER BY seq LIMIT @limit`,
    ),
    allChanges: db.prepare<[], ChangeRow>("SELECT * FROM changes ORDER BY seq"),
    getChange: db.prepare<[number], ChangeRow>("SELECT * FROM changes WHERE seq = ?"),
    lastSeq: db.prepare<[], { seq: number | null }>("SELECT max(seq) AS seq FROM changes"),
    loadHeads: db.prepare<[string], HeadRow>(
      "SELECT * FROM heads WHERE source = ? ORDER BY grp, kind, namespace, name",
    ),
    latestRevision: db.prepare<RefParams, RevisionRow>(
      `SELECT * FROM revisions WHERE ${REF_WHERE} ORDER BY revision DESC LIMIT 1`,
    ),
    getRevision: db.prepare<[...RefParams, number], RevisionRow>(
      `SELECT * FROM revisions WHERE ${REF_WHERE} AND revision = ?`,
    ),
    listRevisions: db.prepare<RefParams, RevisionRow>(
      `SELECT * FROM revisions WHERE ${REF_WHERE} ORDER BY revision`,
    ),
    getSourceCursor: db.prepare<[string], { cursor: string }>(
      "SELECT cursor FROM source_cursors WHERE source = ?",
    ),
    upsertHealth: db.prepare<[string, string, string, string]>(
      `INSERT INTO source_health (source, status, message, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (source) DO UPDATE SET status = excluded.status, message = excluded.message,
         updated_at = excluded.updated_at`,
    ),
    listHealth: db.prepare<[], SourceHealth>(
      "SELECT source, status, message, updated_at AS updatedAt FROM source_health ORDER BY source",
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
    listDeadLetters: db.prepare<[{ consumer: string | null }], DeadLetter>(
      `SELECT consumer, seq, error, attempts FROM dead_letters
       WHERE @consumer IS NULL OR consumer = @consumer ORDER BY id`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

const DEFAULT_LIMIT = 1000;

export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { multiWriter: false, crossProcessNotify: false };
  private readonly db: Database.Database;
  private readonly stmts: Statements;
  // IMMEDIATE takes the write lock up front, so the chain head read at the start cannot be
  // overtaken by another connection before the rows that depend on it are written.
  private readonly commitTx: (batch: CommitBatch) => Change[];
  private readonly verifyTx: () => VerifyResult;

  constructor(db: Database.Database) {
    this.db = db;
    this.stmts = prepareStatements(db);
    const commitTx = db.transaction((batch: CommitBatch) => this.commitSync(batch));
    this.commitTx = (batch) => commitTx.immediate(batch);
    // One read transaction, so the head and the rows are one snapshot.
    this.verifyTx = db.transaction(() => this.verifySync());
  }

  async loadHeads(source: string): Promise<Head[]> {
    return this.stmts.loadHeads.all(source).map(headOf);
  }

  async getRevision(ref: Ref, revision?: number): Promise<Revision | undefined> {
    const row =
      revision === undefined
        ? this.stmts.latestRevision.get(...refParams(ref))
        : this.stmts.getRevision.get(...refParams(ref), revision);
    return row && revisionOf(row);
  }

  async listRevisions(ref: Ref): Promise<Revision[]> {
    return this.stmts.listRevisions.all(...refParams(ref)).map(revisionOf);
  }

  async commit(batch: CommitBatch): Promise<Change[]> {
    try {
      return this.commitTx(batch);
    } catch (err) {
      if (err instanceof CrwatchError) throw err;
      throw new CrwatchError(
        "CRW_STORE_WRITE",
        `commit of ${batch.changes.length} change(s) failed: ${String(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  async readChanges(query: ChangeQuery): Promise<Change[]> {
    const types = query.types?.length ? JSON.stringify(query.types) : null;
    const needle = query.refContains ? query.refContains : null;
    const limit = Math.max(0, query.limit ?? DEFAULT_LIMIT);
    const afterSeq = query.afterSeq ?? 0;
    return this.stmts.readChanges.all({ afterSeq, types, needle, limit }).map(changeOf);
  }

  async getChange(seq: number): Promise<Change | undefined> {
    const row = this.stmts.getChange.get(seq);
    return row && changeOf(row);
  }

  async lastSeq(): Promise<number> {
    return this.stmts.lastSeq.get()?.seq ?? 0;
  }

  async getSourceCursor(source: string): Promise<string | undefined> {
    return this.stmts.getSourceCursor.get(source)?.cursor;
  }

  async setSourceHealth(health: SourceHealth): Promise<void> {
    this.stmts.upsertHealth.run(health.source, health.status, health.message, health.updatedAt);
  }

  async listSourceHealth(): Promise<SourceHealth[]> {
    return this.stmts.listHealth.all();
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

  async addDeadLetter(letter: DeadLetter): Promise<void> {
    const { consumer, seq, error, attempts } = letter;
    this.stmts.addDeadLetter.run(consumer, seq, error, attempts, new Date().toISOString());
  }

  async listDeadLetters(consumer?: string): Promise<DeadLetter[]> {
    return this.stmts.listDeadLetters.all({ consumer: consumer ?? null });
  }

  async verify(): Promise<VerifyResult> {
    return this.verifyTx();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private commitSync(batch: CommitBatch): Change[] {
    const head = this.chainHead();
    const committedAt = new Date().toISOString();
    let seq = head.last_seq;
    let prevHash = head.last_hash;
    const committed: Change[] = [];
    for (const change of batch.changes) {
      seq += 1;
      const row = this.appendChange(change, seq, prevHash, committedAt);
      committed.push(committedChange(change, row));
      prevHash = row.hash;
    }
    this.saveCursorsAndProblems(batch, committedAt);
    if (batch.changes.length > 0) this.stmts.setChainHead.run(seq, prevHash);
    return committed;
  }

  private saveCursorsAndProblems(batch: CommitBatch, now: string): void {
    for (const { source, cursor } of batch.cursors) {
      this.stmts.upsertSourceCursor.run(source, cursor, now);
    }
    for (const { source, location } of batch.resolvedProblems) {
      this.stmts.deleteProblem.run(source, location);
    }
  }

  private appendChange(change: NewChange, seq: number, prevHash: string, committedAt: string) {
    const row = toRow(change, seq, prevHash, committedAt);
    const chainRow = chainRowOf(row);
    row.hash = chainHash(prevHash, chainRow);
    this.stmts.insertChange.run(...chainRow, prevHash, row.hash);
    if (!isNotice(change.type)) {
      this.writeRevision(change, row);
    } else if (change.type === "ERROR" && change.fingerprint !== undefined) {
      const slot = change.problemSlot ?? change.location?.path ?? "";
      this.stmts.upsertProblem.run(change.ref.source, slot, change.fingerprint, seq);
    }
    return row;
  }

  private writeRevision(change: NewChange, row: ChangeRow): void {
    const deleted = change.type === "DELETED";
    const object = deleted ? null : (change.objectJson ?? jsonOrNull(change.object));
    const { source, grp, kind, namespace, name, revision, content_hash, location } = row;
    this.stmts.insertRevision.run(
      ...[source, grp, kind, namespace, name, revision, row.seq, object, content_hash, location],
    );
    this.stmts.upsertHead.run(
      ...[source, grp, kind, namespace, name, revision, content_hash, deleted ? 1 : 0, location],
    );
  }

  private chainHead(): ChainHeadRow {
    const head = this.stmts.getChainHead.get();
    if (head) return head;
    throw new CrwatchError("CRW_STORE_CHAIN_BROKEN", "the chain_head row is missing");
  }

  private verifySync(): VerifyResult {
    const head = this.stmts.getChainHead.get();
    let checked = 0;
    let lastSeq = 0;
    let lastHash = GENESIS_HASH;
    for (const row of this.stmts.allChanges.iterate()) {
      const reason = rowProblem(row, lastSeq + 1, lastHash);
      if (reason) {
        const firstBadSeq = Math.min(row.seq, lastSeq + 1);
        return { ok: false, checked, firstBadSeq, reason };
      }
      checked += 1;
      lastSeq = row.seq;
      lastHash = row.hash;
    }
    return headResult(head, checked, lastSeq, lastHash);
  }
}

/** Why a row cannot follow the verified prefix, or undefined when it can. */
function rowProblem(row: ChangeRow, expectedSeq: number, prevHash: string): string | undefined {
  if (row.seq !== expectedSeq) {
    return `expected seq ${expectedSeq} but found seq ${row.seq}: rows are missing or renumbered`;
  }
  if (row.prev_hash !== prevHash) {
    return `seq ${row.seq} does not link to the hash of seq ${row.seq - 1}: rows were removed, reordered or rewritten`;
  }
  if (chainHash(prevHash, chainRowOf(row)) !== row.hash) {
    return `seq ${row.seq} does not match its hash: the row was edited`;
  }
  return undefined;
}

/** The last row must be the one chain_head names; otherwise the tail was cut or grafted. */
function headResult(
  head: ChainHeadRow | undefined,
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
  if (head.last_seq > lastSeq) {
    return bad(
      lastSeq + 1,
      `the log ends at seq ${lastSeq} but chain_head records seq ${head.last_seq}: the tail was deleted`,
    );
  }
  if (head.last_seq < lastSeq) {
    return bad(
      head.last_seq + 1,
      `chain_head records seq ${head.last_seq} but the log goes on to seq ${lastSeq}`,
    );
  }
  if (head.last_hash !== lastHash) {
    return bad(Math.max(lastSeq, 1), `the hash of seq ${lastSeq} does not match chain_head`);
  }
  return { ok: true, checked, lastSeq };
}

function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function parseOrNull<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

/** The stored form of a change; every JSON value is serialized here and only here. */
/** The committed form, built from what the caller passed rather than parsed back from the row. */
function committedChange(change: NewChange, row: ChangeRow): Change {
  const { object: _o, objectJson: _j, fingerprint: _f, problemSlot: _s, ...rest } = change;
  return {
    ...rest,
    seq: row.seq,
    committedAt: row.committed_at,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function toRow(change: NewChange, seq: number, prevHash: string, committedAt: string): ChangeRow {
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
    patch: JSON.stringify(change.patch),
    summary: JSON.stringify(change.summary),
    findings: JSON.stringify(change.findings),
    notice: jsonOrNull(change.notice),
    content_hash: change.contentHash,
    prev_hash: prevHash,
    hash: "",
  };
}

function refOf(row: {
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

function refParams(ref: Ref): RefParams {
  return [ref.source, ref.group, ref.kind, ref.namespace, ref.name];
}

function changeOf(row: ChangeRow): Change {
  return {
    seq: row.seq,
    type: row.type as ChangeType,
    ref: refOf(row),
    revision: row.revision,
    previousRevision: row.prev_revision,
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

function revisionOf(row: RevisionRow): Revision {
  return {
    ref: refOf(row),
    revision: row.revision,
    seq: row.seq,
    object: parseOrNull<JsonObject>(row.object),
    contentHash: row.content_hash,
    location: parseOrNull<Location>(row.location),
  };
}

function headOf(row: HeadRow): Head {
  return {
    ref: refOf(row),
    revision: row.revision,
    contentHash: row.content_hash,
    deleted: row.deleted !== 0,
    location: parseOrNull<Location>(row.location),
  };
}
